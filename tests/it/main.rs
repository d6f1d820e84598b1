//! The integration tests, as one binary: the crate is compiled and linked once for all of
//! them. Each former `tests/<name>.rs` is a module here, so `cargo test --test it -- <name>::`
//! runs one of them.

mod common;
mod cuda_emu;

mod batch_check;
mod batch_rows;
mod bounds_edges;
mod check_corpus;
mod check_elements;
mod cli;
mod conv_props;
mod copy_props;
mod cuda_emu_backend;
mod cuda_emu_conv;
mod cuda_emu_optim_copy;
mod cuda_emu_reduce;
mod cuda_emu_scatter;
mod cuda_nvrtc;
mod deploy;
mod dumps;
mod edges;
mod edges_families;
mod edges_wgsl_fma;
mod external;
mod golden;
mod gpu_profile;
mod history;
mod import_graph;
mod interrupt;
mod masked_inputs;
mod matmul_props;
mod optim_props;
mod oracle;
mod orderings;
mod reduce_fixed;
mod reduce_props;
mod render_formats;
mod report_check;
mod repro_ties;
mod reveal;
mod reveal_check;
mod robust;
mod robust_exit;
mod sandbox;
mod scatter_props;
mod schema;
mod seeds;
mod shards;
mod slurm;
mod store;
mod tolerance;
mod train;
mod uploads;
mod ux;
mod wgsl_preprocessor;
