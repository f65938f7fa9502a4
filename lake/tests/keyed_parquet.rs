//! The Parquet writer's keyed path for string dictionary columns (`vendor/parquet.patch`): a
//! `Dictionary(Int32, Utf8)` column must be written exactly as upstream's value-by-value path
//! writes the same data. Two references take that path: the same dictionary with 16-bit keys
//! (the keyed path is for 32-bit keys; the writer sizes pages the same way for any dictionary)
//! and the same strings as a plain `Utf8` column. All files skip the Arrow schema (the only
//! place the input types differ), so they must be the same bytes: dictionary pages, data pages,
//! chunk and page statistics (column index), bloom filters and footer. The cases drive what the
//! keyed path keeps between calls: many small data pages (a value re-enters each page's
//! min/max), mini-batches that split pages, several row groups sliced from one batch (one
//! dictionary shared), several batches with new dictionaries (the cache must notice), the same
//! batch twice (the cache is reused), a dictionary too large for its rows (value by value, in
//! the same pages as keyed batches), null keys, unused and repeated dictionary values, empty and
//! non-ASCII strings; under page, chunk and no statistics, a bloom filter, the v2 writer and
//! truncated statistics. Where a dictionary outgrows its page limit mid-chunk (the writer falls
//! back to plain encoding), the plain `Utf8` column is no byte-for-byte reference (the writer
//! sizes plain pages by bytes for strings but by rows for dictionaries, upstream as here): the
//! 16-bit-key file is, and against the strings the test compares what a reader sees.

use std::sync::Arc;

use anyhow::{Context, Result};
use arrow_array::types::{Int16Type, Int32Type};
use arrow_array::{
    Array, ArrayRef, DictionaryArray, Int16Array, Int32Array, RecordBatch, StringArray,
};
use arrow_schema::{DataType, Field, Schema};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_writer::ArrowWriterOptions;
use parquet::file::properties::{EnabledStatistics, WriterProperties, WriterVersion};

/// A seeded xorshift, so every run writes the same columns.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// One batch: a dictionary of `card` values (some repeated, some never used, one empty, some
/// non-ASCII) and `rows` keys into it, every `null_every`-th key null (0: none).
fn batch(
    rng: &mut Rng,
    rows: usize,
    card: usize,
    null_every: usize,
) -> (DictionaryArray<Int32Type>, StringArray) {
    let values: Vec<String> = (0..card)
        .map(|i| match i % 7 {
            0 => String::new(),
            1 => format!("séance-{}-ü", rng.below(5)),
            2 => format!("s_{:012}", rng.below(card as u64 / 2 + 1)),
            _ => format!("https://shop.example/p/{}", rng.below(1_000)),
        })
        .collect();
    // Keys drawn from the first three quarters: the rest of the dictionary goes unused.
    let used = (card * 3 / 4).max(1) as u64;
    let keys: Vec<Option<i32>> = (0..rows)
        .map(|r| {
            if null_every > 0 && r % null_every == null_every - 1 {
                None
            } else {
                Some(rng.below(used) as i32)
            }
        })
        .collect();
    let strings: StringArray = keys
        .iter()
        .map(|k| k.map(|k| values[k as usize].as_str()))
        .collect();
    let dict =
        DictionaryArray::try_new(Int32Array::from(keys), Arc::new(StringArray::from(values)))
            .expect("keys in range");
    (dict, strings)
}

/// `batches` written through one writer, as one nullable column `s` of `column`'s type.
fn write(batches: &[ArrayRef], props: &WriterProperties) -> Result<Vec<u8>> {
    let schema = Arc::new(Schema::new(vec![Field::new(
        "s",
        batches[0].data_type().clone(),
        true,
    )]));
    let mut out = Vec::new();
    let opts = ArrowWriterOptions::new()
        .with_properties(props.clone())
        .with_skip_arrow_metadata(true);
    let mut w = ArrowWriter::try_new_with_options(&mut out, schema.clone(), opts)?;
    for b in batches {
        w.write(&RecordBatch::try_new(schema.clone(), vec![b.clone()])?)?;
    }
    w.close()?;
    Ok(out)
}

/// The same dictionary with 16-bit keys: the writer takes it value by value (the keyed path is
/// for 32-bit keys), and sizes its pages as for any dictionary, so its file is the reference
/// byte for byte even where the writer falls back to plain encoding.
fn with_i16_keys(d: &DictionaryArray<Int32Type>) -> DictionaryArray<Int16Type> {
    let keys: Int16Array = d
        .keys()
        .iter()
        .map(|k| k.map(|k| i16::try_from(k).expect("small dictionaries")))
        .collect();
    DictionaryArray::try_new(keys, d.values().clone()).expect("the same keys")
}

/// `parts` written three ways: as 32-bit-key dictionaries (the keyed path), as 16-bit-key
/// dictionaries and as plain strings (both value by value).
fn three_ways(
    name: &str,
    parts: &[(DictionaryArray<Int32Type>, StringArray)],
    props: &WriterProperties,
) -> Result<[Vec<u8>; 3]> {
    let keyed: Vec<ArrayRef> = parts
        .iter()
        .map(|(d, _)| Arc::new(d.clone()) as ArrayRef)
        .collect();
    let i16_keys: Vec<ArrayRef> = parts
        .iter()
        .map(|(d, _)| Arc::new(with_i16_keys(d)) as ArrayRef)
        .collect();
    let plain: Vec<ArrayRef> = parts
        .iter()
        .map(|(_, s)| Arc::new(s.clone()) as ArrayRef)
        .collect();
    assert!(matches!(keyed[0].data_type(), DataType::Dictionary(..)));
    Ok([
        write(&keyed, props).with_context(|| format!("{name}: keyed"))?,
        write(&i16_keys, props).with_context(|| format!("{name}: 16-bit keys"))?,
        write(&plain, props).with_context(|| format!("{name}: plain"))?,
    ])
}

/// Writes `parts` three ways and requires the same bytes.
fn same_bytes(
    name: &str,
    parts: &[(DictionaryArray<Int32Type>, StringArray)],
    props: &WriterProperties,
) -> Result<()> {
    let [keyed, i16_keys, plain] = three_ways(name, parts, props)?;
    assert!(
        keyed == i16_keys,
        "{name}: the keyed file ({} bytes) differs from the 16-bit-key one ({} bytes)",
        keyed.len(),
        i16_keys.len()
    );
    assert!(
        keyed == plain,
        "{name}: the dictionary column's file ({} bytes) differs from the plain column's ({} bytes)",
        keyed.len(),
        plain.len()
    );
    Ok(())
}

/// Small pages and mini-batches, so values re-enter many pages' statistics, and row groups
/// sliced from one batch; with the given statistics level and, in some cases, a bloom filter,
/// the v2 writer (data page v2) or truncated statistics.
fn settings() -> Vec<(String, WriterProperties)> {
    let base = || {
        WriterProperties::builder()
            .set_dictionary_enabled(true)
            .set_write_batch_size(5)
            .set_data_page_row_count_limit(7)
            .set_max_row_group_row_count(Some(300))
    };
    let mut out = Vec::new();
    for stats in [
        EnabledStatistics::Page,
        EnabledStatistics::Chunk,
        EnabledStatistics::None,
    ] {
        out.push((
            format!("{stats:?}"),
            base().set_statistics_enabled(stats).build(),
        ));
    }
    let page = || base().set_statistics_enabled(EnabledStatistics::Page);
    out.push((
        "bloom filter".into(),
        page().set_bloom_filter_enabled(true).build(),
    ));
    out.push((
        "writer v2".into(),
        page()
            .set_writer_version(WriterVersion::PARQUET_2_0)
            .build(),
    ));
    out.push((
        "truncated statistics".into(),
        page()
            .set_statistics_truncate_length(Some(4))
            .set_column_index_truncate_length(Some(4))
            .build(),
    ));
    out
}

#[test]
fn dictionary_columns_are_written_as_their_strings() -> Result<()> {
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    for (name, p) in settings() {
        let one = batch(&mut rng, 1_000, 40, 0);
        same_bytes(
            &format!("{name}: one batch, 4 row groups"),
            std::slice::from_ref(&one),
            &p,
        )?;
        same_bytes(
            &format!("{name}: the same batch twice"),
            &[one.clone(), one],
            &p,
        )?;
        let many: Vec<_> = (0..4)
            .map(|i| batch(&mut rng, 137 + i * 50, 3 + i * 20, 9))
            .collect();
        same_bytes(
            &format!("{name}: new dictionaries per batch, null keys"),
            &many,
            &p,
        )?;
        let single = batch(&mut rng, 64, 1, 0);
        same_bytes(&format!("{name}: a one-value dictionary"), &[single], &p)?;
        // A dictionary more than four times the rows given with it goes value by value (the
        // cache would cost more); mixed with keyed batches in the same pages.
        let mixed = vec![
            batch(&mut rng, 200, 30, 0),
            batch(&mut rng, 10, 100, 0),
            batch(&mut rng, 200, 30, 7),
        ];
        same_bytes(&format!("{name}: a large dictionary, few rows"), &mixed, &p)?;
        // The limit itself: a dictionary of 4 × rows − 1, 4 × rows (keyed) and 4 × rows + 1
        // (value by value) entries, each between keyed batches.
        for card in [79, 80, 81] {
            let around = vec![
                batch(&mut rng, 100, 20, 0),
                batch(&mut rng, 20, card, 3),
                batch(&mut rng, 100, 20, 0),
            ];
            same_bytes(&format!("{name}: {card} values for 20 rows"), &around, &p)?;
        }
    }
    Ok(())
}

#[test]
fn a_dictionary_that_outgrows_its_page_falls_back_the_same() -> Result<()> {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let p = WriterProperties::builder()
        .set_dictionary_enabled(true)
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_write_batch_size(5)
        .set_data_page_row_count_limit(7)
        .set_dictionary_page_size_limit(256)
        .build();
    let parts: Vec<_> = (0..3).map(|_| batch(&mut rng, 400, 300, 11)).collect();
    let [keyed, i16_keys, plain] = three_ways("fallback mid-chunk", &parts, &p)?;
    assert!(
        keyed == i16_keys,
        "the keyed file differs from the 16-bit-key one"
    );
    let (rows_k, stats_k, fell_back) = read_back(keyed)?;
    let (rows_v, stats_v, _) = read_back(plain)?;
    assert!(
        fell_back,
        "the dictionary never outgrew its page: the case tests nothing"
    );
    assert_eq!(rows_k.len(), 1_200);
    assert_eq!(rows_k, rows_v, "the rows differ");
    assert_eq!(stats_k, stats_v, "the row groups' statistics differ");
    Ok(())
}

/// Every row of column `s` of a written file, each row group's statistics for it, and whether
/// any of its data pages is plain-encoded (the writer fell back from the dictionary).
fn read_back(file: Vec<u8>) -> Result<(Vec<Option<String>>, Vec<String>, bool)> {
    use arrow_array::cast::AsArray;
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    use parquet::basic::Encoding;
    use parquet::column::page::Page;
    use parquet::file::reader::{FileReader, SerializedFileReader};
    let file = bytes::Bytes::from(file);
    let reader = ParquetRecordBatchReaderBuilder::try_new(file.clone())?;
    let mut rows = Vec::new();
    for b in reader.build()? {
        let b = b?;
        let col = b.column(0).as_string::<i32>();
        rows.extend((0..col.len()).map(|i| col.is_valid(i).then(|| col.value(i).to_string())));
    }
    let pages = SerializedFileReader::new(file)?;
    let mut stats = Vec::new();
    let mut fell_back = false;
    for g in 0..pages.num_row_groups() {
        let rg = pages.get_row_group(g)?;
        stats.push(format!("{:?}", rg.metadata().column(0).statistics()));
        for page in rg.get_column_page_reader(0)? {
            if let Page::DataPage { encoding, .. } | Page::DataPageV2 { encoding, .. } = page? {
                fell_back |= encoding == Encoding::PLAIN;
            }
        }
    }
    Ok((rows, stats, fell_back))
}
