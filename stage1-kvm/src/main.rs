//! rukt stage1 engine `kvm`: placeholder until its issue lands.
//!
//! stage0 does not exec this binary yet; it exists so the workspace shows the
//! architecture (one crate per stage1 engine) from the start.

use std::process::ExitCode;

fn main() -> ExitCode {
    let _ = std::io::Write::write_all(
        &mut std::io::stderr(),
        b"rukt-stage1-kvm: this stage1 engine is not implemented yet\n",
    );
    // 254: stage1 internal failure, as in rkt's exit-code convention.
    ExitCode::from(254)
}
