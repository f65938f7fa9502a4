//! A dictionary-encoded string column built from keys.
//!
//! Arrow's `StringDictionaryBuilder` hashes and compares its value on every append. Most of the
//! `events` table's string columns hold one value for all of a frame's rows (tenant, region,
//! edge, session, user, account, and the section and page in effect), and a frame carries about
//! a dozen samples, so the events builder looks each value up once per frame ([`KeyedDict::key`])
//! and appends only its key: for all the frame's rows at once ([`KeyedDict::push_n`]), or to
//! each row where rows differ ([`KeyedDict::push`]). Keys are given in order of first
//! appearance, as Arrow's builder gives them, so the finished array is the same.

use std::sync::Arc;

use arrow_array::DictionaryArray;
use arrow_array::builder::{Int32Builder, StringBuilder};
use arrow_array::types::Int32Type;

use crate::Error;

/// Keys and values of one dictionary column until [`KeyedDict::finish`].
#[derive(Default)]
pub struct KeyedDict {
    keys: Int32Builder,
    values: StringBuilder,
    /// With Arrow's own hasher (ahash, keyed at runtime): a value is looked up once per frame
    /// per column.
    index: ahash::HashMap<Box<str>, i32>,
}

impl std::fmt::Debug for KeyedDict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyedDict")
            .field("values", &self.index.len())
            .finish_non_exhaustive()
    }
}

impl KeyedDict {
    /// The key of `value`, added to the dictionary if new. A column holds at most as many
    /// distinct values as rows, and a builder is finished every [`crate::file::FLUSH_ROWS`]
    /// rows, far below `i32::MAX`; should a caller push more, the key type's limit is an error
    /// at [`KeyedDict::finish`], as with Arrow's builder, never a wrong key.
    pub fn key(&mut self, value: &str) -> i32 {
        if let Some(k) = self.index.get(value) {
            return *k;
        }
        let k = i32::try_from(self.index.len()).unwrap_or(-1);
        self.values.append_value(value);
        self.index.insert(value.into(), k);
        k
    }

    /// The key of `value`, or `None` (a null row) for `None`.
    pub fn key_of(&mut self, value: Option<&str>) -> Option<i32> {
        value.map(|v| self.key(v))
    }

    /// Appends a row holding the value of `key` (from [`KeyedDict::key`]), or null.
    pub fn push(&mut self, key: Option<i32>) {
        self.keys.append_option(key);
    }

    /// Appends `n` rows holding the value of `key`, or `n` nulls.
    pub fn push_n(&mut self, key: Option<i32>, n: usize) {
        match key {
            Some(k) => self.keys.append_value_n(k, n),
            None => self.keys.append_nulls(n),
        }
    }

    /// Appends a row holding `value` (a lookup and a key).
    pub fn push_value(&mut self, value: Option<&str>) {
        let k = self.key_of(value);
        self.push(k);
    }

    /// A column with room for `rows` keys.
    pub fn with_capacity(rows: usize) -> KeyedDict {
        KeyedDict {
            keys: Int32Builder::with_capacity(rows),
            values: StringBuilder::new(),
            index: ahash::HashMap::default(),
        }
    }

    /// A column just finished (no rows) gets room for `rows` keys. Its index keeps the room it
    /// grew to before [`KeyedDict::finish`] (which clears it, not frees it), so a column
    /// refilled after a flush looks its values up without rehashing.
    pub fn reserve(&mut self, rows: usize) {
        if arrow_array::builder::ArrayBuilder::is_empty(&self.keys) {
            self.keys = Int32Builder::with_capacity(rows);
        }
    }

    /// Rows its keys hold without growing.
    #[cfg(test)]
    pub(crate) fn capacity(&self) -> usize {
        self.keys.capacity()
    }

    /// Values its index holds without rehashing.
    #[cfg(test)]
    pub(crate) fn index_capacity(&self) -> usize {
        self.index.capacity()
    }

    /// The rows so far as one dictionary array; the column starts empty again.
    pub fn finish(&mut self) -> Result<DictionaryArray<Int32Type>, Error> {
        self.index.clear();
        let keys = self.keys.finish();
        let values = self.values.finish();
        Ok(DictionaryArray::try_new(keys, Arc::new(values))?)
    }
}

#[cfg(test)]
mod tests {
    use arrow_array::builder::StringDictionaryBuilder;

    use super::*;

    #[test]
    fn the_same_array_as_arrows_builder() -> anyhow::Result<()> {
        let rows = [
            Some("b"),
            None,
            Some("a"),
            Some("b"),
            Some(""),
            None,
            Some("a"),
        ];
        let mut arrow = StringDictionaryBuilder::<Int32Type>::new();
        let mut ours = KeyedDict::default();
        for r in rows {
            arrow.append_option(r);
            ours.push_value(r);
        }
        let (a, o) = (arrow.finish(), ours.finish()?);
        assert_eq!(a, o);
        assert_eq!(o.values().len(), 3, "b, a and the empty string, each once");
        // Finishing starts a new dictionary: keys from 0 again, old values gone.
        ours.push_value(Some("z"));
        let o = ours.finish()?;
        assert_eq!(o.keys().values().as_ref(), &[0]);
        assert_eq!(o.values().len(), 1);
        Ok(())
    }

    #[test]
    fn n_rows_at_once_are_the_same_array_as_n_appends() -> anyhow::Result<()> {
        let runs = [
            (Some("b"), 3),
            (None, 2),
            (Some("a"), 1),
            (Some("b"), 0),
            (None, 1),
        ];
        let mut arrow = StringDictionaryBuilder::<Int32Type>::new();
        let mut ours = KeyedDict::default();
        for (v, n) in runs {
            for _ in 0..n {
                arrow.append_option(v);
            }
            let k = ours.key_of(v);
            ours.push_n(k, n);
        }
        let (a, o) = (arrow.finish(), ours.finish()?);
        assert_eq!(o.len(), 7);
        assert_eq!(a, o);
        Ok(())
    }

    /// A finished column given room keeps its index's room (no rehash while it refills) and
    /// starts its keys from 0 again.
    #[test]
    fn a_refilled_column_keeps_its_index_and_starts_over() -> anyhow::Result<()> {
        let mut col = KeyedDict::default();
        let names: Vec<String> = (0..1000).map(|i| format!("s_{i}")).collect();
        for n in &names {
            col.push_value(Some(n));
        }
        let room = col.index_capacity();
        assert!(room >= 1000);
        assert_eq!(col.finish()?.values().len(), 1000);
        col.reserve(64);
        assert_eq!(col.index_capacity(), room, "the index kept its room");
        assert!(col.capacity() >= 64);
        col.push_value(Some("s_999"));
        col.push_value(Some("new"));
        let o = col.finish()?;
        assert_eq!(o.keys().values().as_ref(), &[0, 1]);
        assert_eq!(o.values().len(), 2);
        Ok(())
    }

    #[test]
    fn a_key_past_the_key_types_range_is_an_error_not_a_wrong_row() {
        let mut col = KeyedDict::default();
        col.push(Some(-1));
        assert!(col.finish().is_err(), "key -1 names no value");
    }
}
