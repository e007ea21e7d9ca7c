//! [`HostSet`]: a sorted set of host ids with linear-merge set operations, the form every
//! resolved target takes in the [`crate::program`].

use super::HostId;

/// A set of hosts in a stable order: ascending [`HostId`], i.e. inventory declaration order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct HostSet(pub(super) Vec<HostId>);

impl HostSet {
    /// The empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// A set from any ids (sorted, duplicates removed).
    pub fn from_ids(ids: impl IntoIterator<Item = HostId>) -> Self {
        let mut v: Vec<HostId> = ids.into_iter().collect();
        v.sort_unstable();
        v.dedup();
        HostSet(v)
    }

    /// Whether `id` is in the set.
    pub fn contains(&self, id: HostId) -> bool {
        self.0.binary_search(&id).is_ok()
    }

    /// Members in ascending order.
    pub fn iter(&self) -> impl Iterator<Item = HostId> + '_ {
        self.0.iter().copied()
    }

    /// Members as a slice.
    pub fn as_slice(&self) -> &[HostId] {
        &self.0
    }

    /// Number of hosts.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `self ∪ other` (a linear merge: both are sorted).
    pub fn union(&self, other: &HostSet) -> HostSet {
        let (a, b) = (&self.0, &other.0);
        let mut out = Vec::with_capacity(a.len() + b.len());
        let (mut i, mut j) = (0, 0);
        while i < a.len() && j < b.len() {
            match a[i].cmp(&b[j]) {
                std::cmp::Ordering::Less => {
                    out.push(a[i]);
                    i += 1;
                }
                std::cmp::Ordering::Greater => {
                    out.push(b[j]);
                    j += 1;
                }
                std::cmp::Ordering::Equal => {
                    out.push(a[i]);
                    i += 1;
                    j += 1;
                }
            }
        }
        out.extend_from_slice(&a[i..]);
        out.extend_from_slice(&b[j..]);
        HostSet(out)
    }

    /// `self \ other`.
    pub fn difference(&self, other: &HostSet) -> HostSet {
        self.merge_filter(other, false)
    }

    /// `self ∩ other`.
    pub fn intersection(&self, other: &HostSet) -> HostSet {
        self.merge_filter(other, true)
    }

    /// The members of `self` that are (`keep_common`) or are not in `other`, by a linear merge.
    fn merge_filter(&self, other: &HostSet, keep_common: bool) -> HostSet {
        let b = &other.0;
        let mut j = 0;
        let mut out = Vec::new();
        for &x in &self.0 {
            while j < b.len() && b[j] < x {
                j += 1;
            }
            let common = j < b.len() && b[j] == x;
            if common == keep_common {
                out.push(x);
            }
        }
        HostSet(out)
    }
}
