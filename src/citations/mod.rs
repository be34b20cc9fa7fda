//! Citation verification: from the fetched sources to claims backed by verbatim evidence.

pub mod evidence;
