//! The PDF syntax Chop needs (ISO 32000-2): finding revisions, serialising objects and writing
//! an incremental update. Parsing of objects is delegated to `lopdf`.

pub mod image;
pub mod incremental;
pub mod reader;
pub mod revisions;
pub mod serialize;
