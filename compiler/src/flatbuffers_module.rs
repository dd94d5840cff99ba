//! [`flatbuffers_module!`](crate::flatbuffers_module): declares a flatc-generated module.

/// Declares the flatc-generated module `$name` (the file `$name.rs` beside the invoking
/// module), with the lint allowances and `rustfmt::skip` that generated code needs.
#[macro_export]
#[rustfmt::skip] // rustfmt re-indents this attribute list on every run
macro_rules! flatbuffers_module {
    ($name:ident) => {
        #[allow(
            dead_code,
            unused_imports,
            non_camel_case_types,
            non_snake_case,
            non_upper_case_globals,
            deprecated,
            unsafe_op_in_unsafe_fn,
            mismatched_lifetime_syntaxes,
            clippy::all,
            clippy::pedantic
        )]
        #[rustfmt::skip]
        mod $name;
    };
}
