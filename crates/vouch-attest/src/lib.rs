//! Typed in-toto predicates and their summaries.
