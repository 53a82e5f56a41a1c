//! How much a request, a series or a refusal carries.

/// How many samples, native histogram samples and exemplars something holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Float samples.
    pub samples: u64,
    /// Native histogram samples.
    pub histograms: u64,
    /// Exemplars.
    pub exemplars: u64,
}

impl Counts {
    /// Adds `other` to `self`.
    pub fn add(&mut self, other: Counts) {
        self.samples += other.samples;
        self.histograms += other.histograms;
        self.exemplars += other.exemplars;
    }

    /// Takes `part` (a share of `self`, such as some of its series) out of `self`.
    pub fn remove(&mut self, part: Counts) {
        self.samples -= part.samples;
        self.histograms -= part.histograms;
        self.exemplars -= part.exemplars;
    }

    /// Samples plus histogram samples: what counts against sample limits and rates.
    pub fn total_samples(&self) -> u64 {
        self.samples + self.histograms
    }
}
