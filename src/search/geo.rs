//! Geo filters and sorting in the index: a box of latitude and longitude ranges cuts
//! the candidates with the index's own range queries, and a radius is then checked
//! exactly against the coordinates' fast columns, so no request reads stored
//! documents to filter.

use std::ops::Bound;

use tantivy::columnar::Column;
use tantivy::query::{
    BooleanQuery, EnableScoring, Explanation, Occur, Query, RangeQuery, Scorer, Weight,
};
use tantivy::{DocId, DocSet, Score, SegmentReader, TERMINATED, TantivyError, Term};

use crate::index::fields::GeoFields;
use crate::search::filter::GeoArea;

/// The documents whose point is in `area`.
pub fn area_query(fields: &GeoFields, area: GeoArea) -> Box<dyn Query> {
    let (south, north, west, east) = area.bounds();
    let range = |field, low: f64, high: f64| -> Box<dyn Query> {
        Box::new(RangeQuery::new(
            Bound::Included(Term::from_field_f64(field, low)),
            Bound::Included(Term::from_field_f64(field, high)),
        ))
    };
    let longitudes: Box<dyn Query> = if west <= east {
        range(fields.lng, west, east)
    } else {
        Box::new(BooleanQuery::new(vec![
            (Occur::Should, range(fields.lng, west, 180.0)),
            (Occur::Should, range(fields.lng, -180.0, east)),
        ]))
    };
    let boxed: Box<dyn Query> = Box::new(BooleanQuery::new(vec![
        (Occur::Must, range(fields.lat, south, north)),
        (Occur::Must, longitudes),
    ]));
    match area {
        // The box is the area.
        GeoArea::Box { .. } => boxed,
        GeoArea::Radius { .. } => {
            let (lat, lng) = crate::index::fields::geo_fields(&fields.name);
            Box::new(WithinQuery {
                candidates: boxed,
                lat,
                lng,
                area,
            })
        }
    }
}

/// The candidates whose point `area` holds, checked on the fast columns.
#[derive(Debug)]
struct WithinQuery {
    candidates: Box<dyn Query>,
    lat: String,
    lng: String,
    area: GeoArea,
}

impl Clone for WithinQuery {
    fn clone(&self) -> Self {
        WithinQuery {
            candidates: self.candidates.box_clone(),
            lat: self.lat.clone(),
            lng: self.lng.clone(),
            area: self.area,
        }
    }
}

impl Query for WithinQuery {
    fn weight(&self, enable_scoring: EnableScoring<'_>) -> tantivy::Result<Box<dyn Weight>> {
        Ok(Box::new(WithinWeight {
            candidates: self.candidates.weight(enable_scoring)?,
            lat: self.lat.clone(),
            lng: self.lng.clone(),
            area: self.area,
        }))
    }
}

struct WithinWeight {
    candidates: Box<dyn Weight>,
    lat: String,
    lng: String,
    area: GeoArea,
}

impl Weight for WithinWeight {
    fn scorer(&self, reader: &SegmentReader, boost: Score) -> tantivy::Result<Box<dyn Scorer>> {
        let mut scorer = WithinScorer {
            candidates: self.candidates.scorer(reader, 1.0)?,
            lat: reader.fast_fields().f64(&self.lat)?,
            lng: reader.fast_fields().f64(&self.lng)?,
            area: self.area,
            score: boost,
        };
        scorer.settle();
        Ok(Box::new(scorer))
    }

    fn explain(&self, reader: &SegmentReader, doc: DocId) -> tantivy::Result<Explanation> {
        let mut scorer = self.scorer(reader, 1.0)?;
        if scorer.seek(doc) != doc {
            return Err(TantivyError::InvalidArgument(format!(
                "document {doc} is not in the area"
            )));
        }
        Ok(Explanation::new("within the geo area", 1.0))
    }
}

struct WithinScorer {
    candidates: Box<dyn Scorer>,
    lat: Column<f64>,
    lng: Column<f64>,
    area: GeoArea,
    score: Score,
}

impl WithinScorer {
    fn holds(&self, doc: DocId) -> bool {
        match (self.lat.first(doc), self.lng.first(doc)) {
            (Some(lat), Some(lng)) => self.area.contains(lat, lng),
            _ => false,
        }
    }

    /// Moves to the first candidate at or after the current one that is in the area.
    fn settle(&mut self) -> DocId {
        let mut doc = self.candidates.doc();
        while doc != TERMINATED && !self.holds(doc) {
            doc = self.candidates.advance();
        }
        doc
    }
}

impl DocSet for WithinScorer {
    fn advance(&mut self) -> DocId {
        self.candidates.advance();
        self.settle()
    }

    fn seek(&mut self, target: DocId) -> DocId {
        if self.candidates.doc() < target {
            self.candidates.seek(target);
        }
        self.settle()
    }

    fn doc(&self) -> DocId {
        self.candidates.doc()
    }

    fn size_hint(&self) -> u32 {
        self.candidates.size_hint()
    }
}

impl Scorer for WithinScorer {
    fn score(&mut self) -> Score {
        self.score
    }
}
