//! mcp-tower: the Model Context Protocol over HTTP, as tower middleware.
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod sse;
