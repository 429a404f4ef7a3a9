//! Figures (filled in below).
