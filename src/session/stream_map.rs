//! A small map keyed by stream number, with the standalone stream (0) kept inline.

/// The standalone (GET) stream of a session; request streams count from 1.
pub(crate) const STANDALONE: u32 = 0;

/// A map keyed by stream number. Stream 0, the standalone stream (the one a broadcast
/// reaches), lives inline, so reaching it touches no other allocation. The others sit in a
/// vector searched in order: a session has a few (the request streams still open or kept for
/// resumption), so a scan is as fast as hashing, and one slot (~70 B) costs less than a hash
/// table's first four (~300 B).
#[repr(C)]
pub(crate) struct StreamMap<V> {
    standalone: Option<V>,
    entries: Vec<(u32, V)>,
}

impl<V> Default for StreamMap<V> {
    fn default() -> Self {
        Self {
            standalone: None,
            entries: Vec::new(),
        }
    }
}

impl<V> StreamMap<V> {
    pub(crate) fn get(&self, stream: &u32) -> Option<&V> {
        if *stream == STANDALONE {
            return self.standalone.as_ref();
        }
        self.entries
            .iter()
            .find(|(k, _)| k == stream)
            .map(|(_, v)| v)
    }

    pub(crate) fn get_mut(&mut self, stream: &u32) -> Option<&mut V> {
        if *stream == STANDALONE {
            return self.standalone.as_mut();
        }
        self.entries
            .iter_mut()
            .find(|(k, _)| k == stream)
            .map(|(_, v)| v)
    }

    /// The value of `stream`, inserted with `V::default()` first if there is none.
    pub(crate) fn get_or_default(&mut self, stream: u32) -> &mut V
    where
        V: Default,
    {
        if stream == STANDALONE {
            return self.standalone.get_or_insert_with(V::default);
        }
        let i = match self.entries.iter().position(|(k, _)| *k == stream) {
            Some(i) => i,
            None => {
                self.push(stream, V::default());
                self.entries.len() - 1
            }
        };
        &mut self.entries[i].1
    }

    pub(crate) fn insert(&mut self, stream: u32, value: V) -> Option<V> {
        match self.get_mut(&stream) {
            Some(slot) => Some(std::mem::replace(slot, value)),
            None if stream == STANDALONE => self.standalone.replace(value),
            None => {
                self.push(stream, value);
                None
            }
        }
    }

    fn push(&mut self, stream: u32, value: V) {
        let len = self.entries.len();
        if len == self.entries.capacity() {
            // One slot at a time while small (most sessions have one or two streams), then
            // doubling.
            self.entries.reserve_exact(if len < 4 { 1 } else { len });
        }
        self.entries.push((stream, value));
    }

    pub(crate) fn remove(&mut self, stream: &u32) -> Option<V> {
        if *stream == STANDALONE {
            return self.standalone.take();
        }
        let i = self.entries.iter().position(|(k, _)| k == stream)?;
        Some(self.entries.swap_remove(i).1)
    }

    pub(crate) fn keys(&self) -> impl Iterator<Item = &u32> {
        self.iter().map(|(k, _)| k)
    }

    pub(crate) fn values(&self) -> impl Iterator<Item = &V> {
        self.iter().map(|(_, v)| v)
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (&u32, &V)> {
        const STANDALONE_KEY: &u32 = &STANDALONE;
        self.standalone
            .iter()
            .map(|v| (STANDALONE_KEY, v))
            .chain(self.entries.iter().map(|(k, v)| (k, v)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_map_keeps_the_standalone_stream_inline_and_the_rest_in_order() {
        let mut map = StreamMap::<&str>::default();
        assert_eq!(map.insert(3, "c"), None);
        assert_eq!(map.insert(STANDALONE, "zero"), None);
        assert_eq!(map.insert(1, "a"), None);
        assert_eq!(map.insert(STANDALONE, "0"), Some("zero"));
        assert_eq!(map.get(&STANDALONE), Some(&"0"));
        assert_eq!(map.get(&1), Some(&"a"));
        assert_eq!(map.get(&2), None);
        let all: Vec<(u32, &str)> = map.iter().map(|(k, v)| (*k, *v)).collect();
        assert_eq!(all, [(0, "0"), (3, "c"), (1, "a")]);
        assert_eq!(map.remove(&STANDALONE), Some("0"));
        assert_eq!(map.get(&STANDALONE), None);
        assert_eq!(map.keys().copied().collect::<Vec<_>>(), [3, 1]);
        *map.get_or_default(STANDALONE) = "new";
        *map.get_or_default(3) = "C";
        assert_eq!(map.values().copied().collect::<Vec<_>>(), ["new", "C", "a"]);
        assert_eq!(map.remove(&3), Some("C"));
        assert_eq!(map.remove(&3), None);
    }
}
