//! fcperf: fio-style load generator for the ufc NVMe/FC host stack.

use std::process::ExitCode;

use clap::Parser;

use ufc_perf::check;
use ufc_perf::cli::{Cli, OutputFormat};
use ufc_vfio::dma::{HugePagePool, MemlockBudget};
use ufc_vfio::kernel::VfioOptions;

/// DMA memory a real-hardware run would lock (the default pool plus data).
const CHECK_DMA_BYTES: u64 = 64 << 20;

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let cli = Cli::parse();
    if let Some(addr) = &cli.check {
        let opts = VfioOptions {
            dma_bytes: CHECK_DMA_BYTES,
            ..VfioOptions::default()
        };
        let items = check::check(
            addr,
            &opts,
            &MemlockBudget::current(),
            &HugePagePool::current(),
        );
        let (text, ok) = check::render(addr, &items);
        print!("{text}");
        return if ok {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        };
    }
    let report = match ufc_perf::run::run(&cli) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("fcperf: {e}");
            return ExitCode::from(2);
        }
    };
    match cli.output_format {
        OutputFormat::Json => match serde_json::to_string_pretty(&report.json()) {
            Ok(s) => println!("{s}"),
            Err(e) => {
                eprintln!("fcperf: cannot encode the JSON report: {e}");
                return ExitCode::FAILURE;
            }
        },
        OutputFormat::Normal => print!("{}{}", report.text(), report.spdk_latency(cli.latency)),
    }
    let (errors, verify_errors) = report.failures();
    if (errors > 0 || verify_errors > 0) && !cli.allow_errors {
        eprintln!(
            "fcperf: {errors} I/O errors, {verify_errors} verify failures (exit 1; --allow-errors to ignore)"
        );
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
