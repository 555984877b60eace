//! FC formats.
