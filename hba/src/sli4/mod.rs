//! SLI-4 formats.
