//! Unit tests of the sans-IO connection core (filled in below).
