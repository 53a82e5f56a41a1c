//! What a request had refused, series by series: counts per reason and the first
//! refusal described for the response body.
//!
//! The decoder records its own [`Reason`]s; a caller that drops more series after
//! decoding ([`WriteBatch::retain`](crate::WriteBatch::retain)) records them with its
//! own reason type, so this crate knows nothing of tenancy or relabeling.

use std::fmt::Write as _;

use crate::counts::Counts;
use crate::error::Reason;

/// A reason a series can be refused for: anything with a stable snake_case id.
pub trait RefusalReason: Copy + Eq + std::fmt::Debug {
    /// The stable id, used as a metric label and in response bodies.
    fn id(self) -> &'static str;
}

impl RefusalReason for Reason {
    fn id(self) -> &'static str {
        Reason::id(self)
    }
}

/// What was refused from a request that was otherwise decodable.
#[derive(Debug, Clone)]
pub struct Rejections<R = Reason> {
    /// Number of series refused.
    pub series: u64,
    /// What those series carried.
    pub counts: Counts,
    /// Samples (float plus histogram) refused, per reason, in first-seen order.
    pub by_reason: Vec<(R, u64)>,
    /// The first refusal, described for the response body (labels escaped, truncated).
    pub first: Option<String>,
}

impl<R> Default for Rejections<R> {
    fn default() -> Self {
        Rejections {
            series: 0,
            counts: Counts::default(),
            by_reason: Vec::new(),
            first: None,
        }
    }
}

impl<R: RefusalReason> Rejections<R> {
    /// True when nothing was refused.
    pub fn is_empty(&self) -> bool {
        self.series == 0
    }

    /// The reason of the first refusal.
    pub fn first_reason(&self) -> Option<R> {
        self.by_reason.first().map(|(r, _)| *r)
    }

    /// Counts a refused series; the first one is described as
    /// `series {labels} rejected: reason[: detail]` (formatted only for the first).
    pub fn record(
        &mut self,
        reason: R,
        counts: Counts,
        series: impl FnOnce() -> String,
        detail: Option<&str>,
    ) {
        self.series += 1;
        self.counts.add(counts);
        match self.by_reason.iter_mut().find(|(r, _)| *r == reason) {
            Some((_, n)) => *n += counts.total_samples(),
            None => self.by_reason.push((reason, counts.total_samples())),
        }
        if self.first.is_none() {
            let mut text = format!("series {} rejected: {}", series(), reason.id());
            if let Some(detail) = detail {
                let _ = write!(text, ": {detail}");
            }
            self.first = Some(text);
        }
    }
}
