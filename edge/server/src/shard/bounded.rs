//! A map that holds at most `cap` entries: inserting a new key at the cap forgets the oldest
//! insertion first. Used for the shard's tombstones and profile cache, whose sizes are limits
//! from the config.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;

#[derive(Debug)]
pub struct BoundedMap<K, V> {
    map: HashMap<K, (V, u64)>,
    /// Insertion order with generations; entries whose generation no longer matches the map
    /// (removed or re-inserted keys) are skipped.
    order: VecDeque<(K, u64)>,
    generation: u64,
    cap: usize,
}

impl<K: Hash + Eq + Clone, V> BoundedMap<K, V> {
    pub fn new(cap: usize) -> BoundedMap<K, V> {
        BoundedMap {
            map: HashMap::new(),
            order: VecDeque::new(),
            generation: 0,
            cap,
        }
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    pub fn get(&self, k: &K) -> Option<&V> {
        self.map.get(k).map(|(v, _)| v)
    }

    pub fn get_mut(&mut self, k: &K) -> Option<&mut V> {
        self.map.get_mut(k).map(|(v, _)| v)
    }

    pub fn remove(&mut self, k: &K) -> Option<V> {
        self.map.remove(k).map(|(v, _)| v)
    }

    /// Inserts (or replaces, making it the newest) `k`. With a cap of 0 nothing is kept.
    pub fn insert(&mut self, k: K, v: V) {
        if self.cap == 0 {
            return;
        }
        if !self.map.contains_key(&k) {
            while self.map.len() >= self.cap {
                let Some((old, g)) = self.order.pop_front() else {
                    break;
                };
                if self.map.get(&old).is_some_and(|(_, mg)| *mg == g) {
                    self.map.remove(&old);
                }
            }
        }
        self.generation += 1;
        self.map.insert(k.clone(), (v, self.generation));
        self.order.push_back((k, self.generation));
        // Stale order entries (removed or replaced keys) never outnumber live ones for long.
        if self.order.len() > 2 * self.cap {
            let map = &self.map;
            self.order
                .retain(|(k, g)| map.get(k).is_some_and(|(_, mg)| mg == g));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_the_newest_cap_entries() {
        let mut m = BoundedMap::new(3);
        // cap − 1, cap: everything kept.
        for k in 0..3 {
            m.insert(k, k * 10);
            assert_eq!(m.len(), k + 1);
        }
        // cap + 1: the oldest goes.
        m.insert(3, 30);
        assert_eq!((m.len(), m.get(&0), m.get(&3)), (3, None, Some(&30)));
        // Replacing a key makes it newest and evicts nothing.
        m.insert(1, 11);
        assert_eq!(m.len(), 3);
        m.insert(4, 40);
        assert_eq!((m.get(&2), m.get(&1)), (None, Some(&11)));
        // A removed key frees its place; the order's stale entries stay bounded.
        assert_eq!(m.remove(&1), Some(11));
        m.insert(5, 50);
        assert_eq!((m.len(), m.get(&3), m.get(&4)), (3, Some(&30), Some(&40)));
        for k in 0..100 {
            m.insert(1000 + k % 2, k);
            assert!(m.order.len() <= 6);
        }
        *m.get_mut(&1001).expect("present") += 1;
        assert_eq!(m.get(&1001), Some(&100));
    }

    #[test]
    fn a_zero_cap_keeps_nothing() {
        let mut m = BoundedMap::new(0);
        m.insert("a", 1);
        assert!(m.is_empty());
    }
}
