//! The Parquet writer's keyed path for string dictionary columns (`vendor/parquet.patch`): a
//! `Dictionary(Int32, Utf8)` column must be written exactly as the same strings given as a plain
//! `Utf8` column, which the writer encodes value by value. Both files skip the Arrow schema
//! (the only place the two input types differ), so they must be the same bytes: dictionary
//! pages, data pages, chunk and page statistics (column index) and footer. The cases drive what
//! the keyed path keeps between calls: many small data pages (a value re-enters each page's
//! min/max), mini-batches that split pages, several row groups sliced from one batch (one
//! dictionary shared), several batches with new dictionaries (the cache must notice), the same
//! batch twice (the cache is reused), null keys, unused and repeated dictionary values, empty
//! and non-ASCII strings. A dictionary that outgrows its page limit mid-chunk (the writer falls
//! back to plain encoding) cannot be compared byte for byte: the writer sizes its plain pages by
//! bytes for a string column but by rows for a dictionary column, upstream as here. There the
//! test compares what a reader sees: every row, and each row group's statistics.

use std::sync::Arc;

use anyhow::{Context, Result};
use arrow_array::types::Int32Type;
use arrow_array::{Array, ArrayRef, DictionaryArray, Int32Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_writer::ArrowWriterOptions;
use parquet::file::properties::{EnabledStatistics, WriterProperties};

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

/// Writes `parts` both ways and requires the same bytes.
fn same_bytes(
    name: &str,
    parts: &[(DictionaryArray<Int32Type>, StringArray)],
    props: &WriterProperties,
) -> Result<()> {
    let dicts: Vec<ArrayRef> = parts
        .iter()
        .map(|(d, _)| Arc::new(d.clone()) as ArrayRef)
        .collect();
    let plain: Vec<ArrayRef> = parts
        .iter()
        .map(|(_, s)| Arc::new(s.clone()) as ArrayRef)
        .collect();
    assert!(matches!(dicts[0].data_type(), DataType::Dictionary(..)));
    let keyed = write(&dicts, props).with_context(|| format!("{name}: keyed"))?;
    let by_value = write(&plain, props).with_context(|| format!("{name}: by value"))?;
    assert!(
        keyed == by_value,
        "{name}: the dictionary column's file ({} bytes) differs from the plain column's ({} bytes)",
        keyed.len(),
        by_value.len()
    );
    Ok(())
}

fn props(stats: EnabledStatistics) -> WriterProperties {
    WriterProperties::builder()
        .set_dictionary_enabled(true)
        .set_statistics_enabled(stats)
        .set_write_batch_size(5)
        .set_data_page_row_count_limit(7)
        .set_max_row_group_row_count(Some(300))
        .build()
}

#[test]
fn dictionary_columns_are_written_as_their_strings() -> Result<()> {
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    for stats in [
        EnabledStatistics::Page,
        EnabledStatistics::Chunk,
        EnabledStatistics::None,
    ] {
        let p = props(stats);
        let one = batch(&mut rng, 1_000, 40, 0);
        same_bytes(
            &format!("{stats:?}: one batch, 4 row groups"),
            std::slice::from_ref(&one),
            &p,
        )?;
        same_bytes(
            &format!("{stats:?}: the same batch twice"),
            &[one.clone(), one],
            &p,
        )?;
        let many: Vec<_> = (0..4)
            .map(|i| batch(&mut rng, 137 + i * 50, 3 + i * 20, 9))
            .collect();
        same_bytes(
            &format!("{stats:?}: new dictionaries per batch, null keys"),
            &many,
            &p,
        )?;
        let single = batch(&mut rng, 64, 1, 0);
        same_bytes(&format!("{stats:?}: a one-value dictionary"), &[single], &p)?;
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
    let dicts: Vec<ArrayRef> = parts
        .iter()
        .map(|(d, _)| Arc::new(d.clone()) as ArrayRef)
        .collect();
    let plain: Vec<ArrayRef> = parts
        .iter()
        .map(|(_, s)| Arc::new(s.clone()) as ArrayRef)
        .collect();
    let keyed = write(&dicts, &p)?;
    let by_value = write(&plain, &p)?;
    let (rows_k, stats_k, fell_back) = read_back(keyed)?;
    let (rows_v, stats_v, _) = read_back(by_value)?;
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
