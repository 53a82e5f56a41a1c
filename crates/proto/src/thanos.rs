// Thanos' `thanos.WriteableStore/RemoteWrite` messages (pkg/store/storepb/rpc.proto),
// the fields a router sends; `prometheus_copy.TimeSeries` is wire-identical to remote
// write 1.0's `prometheus.TimeSeries`.

/// What a router sends an ingestor.
#[derive(Clone, PartialEq, prost::Message)]
pub struct WriteRequest {
    /// The series, as remote write 1.0 encodes them.
    #[prost(message, repeated, tag = "1")]
    pub timeseries: Vec<crate::prometheus::TimeSeries>,
    /// The tenant of every series.
    #[prost(string, tag = "2")]
    pub tenant: String,
    /// Replica number plus one; 0 means not replicated.
    #[prost(int64, tag = "3")]
    pub replica: i64,
}

/// An ingestor's answer: empty.
#[derive(Clone, PartialEq, prost::Message)]
pub struct WriteResponse {}
