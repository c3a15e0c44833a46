//! Which collections this replica serves (`SIFT_COLLECTIONS`): names and prefix
//! patterns (`shop-*`), or `*` for all. A replica indexes only its collections and
//! answers the routes of any other with 421 `collection_elsewhere`, so a proxy in front
//! can route `/v1/collections/{name}/…` by name to the pool that holds it, and each
//! replica keeps only its part of the indexes on disk and in memory.
//!
//! PostgreSQL holds every collection whatever the placement: collections are created
//! and listed on any replica, and the index of a collection moved to another pool is
//! built there from PostgreSQL.

use std::fmt;

use crate::access::{matches, valid_pattern};

/// The collection patterns this replica serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    patterns: Vec<String>,
}

impl Default for Placement {
    /// Every collection.
    fn default() -> Self {
        Placement {
            patterns: vec!["*".into()],
        }
    }
}

impl Placement {
    /// Comma-separated collection names and patterns ending in `*`.
    pub fn parse(raw: &str) -> Result<Placement, String> {
        let patterns: Vec<String> = raw
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(str::to_owned)
            .collect();
        if patterns.is_empty() {
            return Err("name at least one collection or pattern, or `*` for all".into());
        }
        if let Some(bad) = patterns.iter().find(|p| !valid_pattern(p)) {
            return Err(format!(
                "`{bad}` is not a collection name or a prefix pattern such as shop-*"
            ));
        }
        Ok(Placement { patterns })
    }

    /// Whether this replica serves the collection `name`.
    pub fn serves(&self, name: &str) -> bool {
        self.patterns.iter().any(|pattern| matches(pattern, name))
    }
}

impl fmt::Display for Placement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.patterns.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_name_the_collections_served() {
        let placement = Placement::parse(" shop-*, blog ").expect("valid");
        assert!(placement.serves("shop-eu"));
        assert!(placement.serves("blog"));
        assert!(!placement.serves("blogs"));
        assert!(!placement.serves("news"));
        assert_eq!(placement.to_string(), "shop-*,blog");
        assert!(Placement::default().serves("anything"));
        assert!(Placement::parse("").is_err());
        assert!(Placement::parse("Shop").is_err());
        assert!(Placement::parse("a*b").is_err());
    }
}
