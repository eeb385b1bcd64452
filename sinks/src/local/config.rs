//! Options of the local lake destination, as validated from the delivery-stream config.

use std::path::PathBuf;

use spillway_formats::prefix::PrefixTemplate;

/// Where and how the local lake writes.
#[derive(Clone, Debug)]
pub struct LocalLakeOptions {
    /// The lake's root folder; object keys are relative to it.
    pub root: PathBuf,
    /// Delivery-stream name: the first part of every object name.
    pub stream_name: String,
    /// The prefix template the partitioner evaluated (for the catalog's layout).
    pub prefix: PrefixTemplate,
    /// Register tables and partitions in a Glue-style file catalog.
    pub catalog: Option<CatalogTarget>,
}

/// The catalog table the lake's objects are registered in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CatalogTarget {
    pub database: String,
    pub table: String,
}
