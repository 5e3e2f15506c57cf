//! End-to-end tests of the `atb` binary live beside this file; the library itself is empty.
