//! The load generator with ground truth. Not built yet: issue 7.
