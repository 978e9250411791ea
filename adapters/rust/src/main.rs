//! `nodehttp-adapter`: the adapter protocol on stdin/stdout, backed by the
//! reference (`nodehttp-conformance run --adapter nodehttp-adapter`).

fn main() -> std::process::ExitCode {
    nodehttp_adapter::main()
}
