//! A value built once per segment and kept while a searcher may still hold the
//! segment: the typo dictionary's words, the head columns. A segment's terms and
//! columns never change (deletes aside, which neither value reads), so a value keyed
//! by segment id stays true; the warmers that own these drop the values of segments no
//! live searcher generation holds.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock};

use tantivy::index::SegmentId;
use tantivy::{SearcherGeneration, SegmentReader};

/// Values by segment.
pub struct PerSegment<T> {
    entries: RwLock<HashMap<SegmentId, Arc<T>>>,
}

impl<T> Default for PerSegment<T> {
    fn default() -> Self {
        PerSegment {
            entries: RwLock::new(HashMap::new()),
        }
    }
}

impl<T> PerSegment<T> {
    /// The value of `segment`, built now by `build` if it is not there yet; a build
    /// that gives `None` keeps nothing, so the next call tries again.
    pub fn get_or_build(
        &self,
        segment: &SegmentReader,
        build: impl FnOnce() -> Option<T>,
    ) -> Option<Arc<T>> {
        let id = segment.segment_id();
        if let Some(value) = self
            .entries
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&id)
        {
            return Some(value.clone());
        }
        let value = Arc::new(build()?);
        self.entries
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id, value.clone());
        Some(value)
    }

    /// How many segments have a value.
    pub fn len(&self) -> usize {
        self.entries.read().unwrap_or_else(|e| e.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the segment `id` has a value.
    pub fn contains(&self, id: &SegmentId) -> bool {
        self.entries
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .contains_key(id)
    }

    /// Drops the values of the segments none of `live_generations` holds.
    pub fn retain_live(&self, live_generations: &[&SearcherGeneration]) {
        let live: HashSet<SegmentId> = live_generations
            .iter()
            .flat_map(|generation| generation.segments().keys().copied())
            .collect();
        self.entries
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|id, _| live.contains(id));
    }
}
