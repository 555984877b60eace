//! fcperf's command line: spdk_nvme_perf's short options with their meanings,
//! fio's long names, nvme-cli's connection timers, and the emulator knobs.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use ufc_transport::wwn::FcAddr;

use crate::hba_world::DeviceSpec;
use crate::parse::{self, Pattern, Trid};
use crate::verify::{self, VerifyKind};
use crate::world::NsKind;

/// CPU numbers (newtype so clap takes one value, not a list of values).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cpus(pub Vec<usize>);

/// A timer that may be off (`-1`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timer(pub Option<Duration>);

/// The LLDD under the transport.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LlddKind {
    /// In-memory loop to the emulated NVMe/FC target (no HBA).
    Fcloop,
}

/// Report format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// fio's text, then spdk_nvme_perf's table.
    Normal,
    /// fio's JSON field names, plus `errors`, `verify_errors` and `drills`.
    Json,
}

const EXAMPLES: &str = "\
Examples:
  fcperf -q 128 -o 4k -w randread -t 10                   # spdk_nvme_perf style
  fcperf --rw=randrw --rwmixread=70 --bs=4k --iodepth=32 --numjobs=2 --runtime=10s
  fcperf --emu-namespace ram --rw randwrite --verify crc32c -t 5
  fcperf -t 10 --restart-every 2s --output-format json     # driver restart drill
  fcperf --device emu:fabric.toml --link-bounce-every 1s   # a fabric from a file
  fcperf --lldd fcloop -t 5                                # the transport without an HBA
  fcperf -r 'trtype:FC traddr:nn-0x20000090fa002779:pn-0x10000090fa002779 subnqn:nqn.2024-01.io.ufc:fcperf'
  fcperf --check 0000:3b:00.0                              # prerequisites of real hardware";

/// fio-style load generator for the ufc NVMe/FC host stack.
#[derive(Clone, Debug, Parser)]
#[command(name = "fcperf", version, after_help = EXAMPLES)]
pub struct Cli {
    /// Run on an LLDD without an HBA instead of --device (for comparison).
    #[arg(long, value_enum, conflicts_with = "device", help_heading = "Target")]
    pub lldd: Option<LlddKind>,
    /// The HBA: emulated on the built-in fabric (`emu`), on a fabric file
    /// (`emu:FILE.toml`), or a real one bound to vfio-pci (PCI address) [default: emu].
    #[arg(
        long,
        value_name = "emu|emu:FILE.toml|PCI-ADDRESS",
        value_parser = parse::device,
        help_heading = "Target"
    )]
    pub device: Option<DeviceSpec>,
    /// Remote port to use, nn-0x<wwnn>:pn-0x<wwpn> (0x optional, any case).
    #[arg(long, value_parser = parse_fc_addr, help_heading = "Target")]
    pub traddr: Option<FcAddr>,
    /// Subsystem NQN to connect to (default: every subsystem of the target).
    #[arg(long, help_heading = "Target")]
    pub subnqn: Option<String>,
    /// spdk_nvme_perf transport ID, e.g. 'trtype:FC traddr:nn-0x…:pn-0x… subnqn:…' (repeatable).
    #[arg(short = 'r', long = "transport", value_name = "TRID", value_parser = parse::trid, help_heading = "Target")]
    pub trids: Vec<Trid>,

    /// I/O queue depth per job (spdk -q, fio iodepth).
    #[arg(short = 'q', long = "iodepth", visible_alias = "io-depth", value_parser = parse::depth, default_value = "128")]
    pub iodepth: usize,
    /// Bytes per I/O: 512, 4k, 128k, 1m … (spdk -o, fio bs).
    #[arg(short = 'o', long = "bs", visible_aliases = ["io-size", "blocksize"], value_parser = parse::io_size, default_value = "4k")]
    pub bs: u32,
    /// I/O pattern: read, write, randread, randwrite, rw, randrw (spdk -w, fio rw).
    #[arg(short = 'w', long = "rw", visible_aliases = ["io-pattern", "readwrite"], value_parser = parse::pattern, default_value = "randread")]
    pub rw: Pattern,
    /// Percentage of reads in rw/randrw (spdk -M, fio rwmixread; default 50).
    #[arg(short = 'M', long = "rwmixread", value_parser = parse::percent)]
    pub rwmixread: Option<u8>,
    /// Measured run time: 10 (seconds), 2s, 500ms … (spdk -t, fio runtime; default 10 s).
    #[arg(short = 't', long = "runtime", visible_alias = "time", value_parser = parse::duration)]
    pub runtime: Option<Duration>,
    /// Run for --runtime even when --size is done (fio time_based).
    #[arg(long = "time_based", visible_alias = "time-based")]
    pub time_based: bool,
    /// Unmeasured warm-up before the run (spdk -a, fio ramp_time).
    #[arg(short = 'a', long = "ramp_time", visible_aliases = ["ramp-time", "warmup-time"], value_parser = parse::duration)]
    pub ramp_time: Option<Duration>,
    /// Hex core mask, one job per core: 0x3, or a list [0,2-3] (spdk -c).
    #[arg(short = 'c', long = "core-mask", value_parser = parse_cpus_mask)]
    pub core_mask: Option<Cpus>,
    /// CPUs, one job per CPU: 0,1 or 0-3 (fio cpus_allowed).
    #[arg(long, visible_alias = "cpus_allowed", value_parser = parse_cpus_list)]
    pub cpus: Option<Cpus>,
    /// Number of jobs (threads, one queue pair each); pinned to CPUs 0, 1, … in turn.
    #[arg(long)]
    pub numjobs: Option<usize>,
    /// Bytes of the namespace each job covers (fio size; default: all of it).
    #[arg(long, value_parser = parse::size)]
    pub size: Option<u64>,
    /// First byte of the region (fio offset).
    #[arg(long, value_parser = parse::size, default_value = "0")]
    pub offset: u64,
    /// Random offsets without covering every block once per pass (fio norandommap).
    #[arg(long)]
    pub norandommap: bool,
    /// Write tagged blocks (LBA, generation, checksum) and check every read: crc32c or pattern.
    #[arg(long, value_parser = verify::parse_kind)]
    pub verify: Option<VerifyKind>,
    /// Random seed.
    #[arg(long, default_value_t = 0x5eed)]
    pub seed: u64,

    /// Emulated namespace backend: null, ram or file:PATH.
    #[arg(long, value_parser = parse::namespace, default_value = "null", help_heading = "Emulator")]
    pub emu_namespace: NsKind,
    /// Emulated namespace size (default: 1t for null, 1g for ram and file).
    #[arg(long, value_parser = parse::size, help_heading = "Emulator")]
    pub emu_ns_size: Option<u64>,
    /// Emulated namespace block size: 512 or 4096.
    #[arg(long, default_value_t = 512, help_heading = "Emulator")]
    pub emu_lba_size: u32,
    /// Subsystems on the emulated target port (one namespace each).
    #[arg(long, default_value_t = 1, help_heading = "Emulator")]
    pub emu_subsystems: usize,
    /// The emulated target's service time: every exchange completes this long after it was submitted (emu devices and fcloop): 20us, 1ms …
    #[arg(long, value_parser = parse::duration, default_value = "0", help_heading = "Emulator")]
    pub emu_latency: Duration,
    /// CPU of the emulated HBA's model thread (SLI-4 model only).
    #[arg(long, help_heading = "Emulator")]
    pub emu_cpu: Option<usize>,
    /// Capture the emulated link to a pcap file (SLI-4 model only).
    #[arg(long, help_heading = "Emulator")]
    pub pcap: Option<PathBuf>,

    /// Restart the driver (shutdown and open; fcloop: a new LLDD instance) every interval.
    #[arg(long, value_parser = parse::duration, help_heading = "Drills")]
    pub restart_every: Option<Duration>,
    /// Take the link down and up every interval (fcloop: the remote port).
    #[arg(long, value_parser = parse::duration, help_heading = "Drills")]
    pub link_bounce_every: Option<Duration>,
    /// Inject an HBA firmware error with RN every interval (--device emu only).
    #[arg(long, value_parser = parse::duration, help_heading = "Drills")]
    pub fw_error_every: Option<Duration>,

    /// Give up reconnecting after this long; -1 = never (nvme-cli ctrl_loss_tmo, default 600).
    #[arg(long, value_parser = parse_timer, allow_hyphen_values = true, help_heading = "Connection")]
    pub ctrl_loss_tmo: Option<Timer>,
    /// Delay between reconnect attempts (default 2 s on FC).
    #[arg(long, value_parser = parse::duration, help_heading = "Connection")]
    pub reconnect_delay: Option<Duration>,
    /// Remote port loss timeout (default 60 s).
    #[arg(long, value_parser = parse::duration, help_heading = "Connection")]
    pub dev_loss_tmo: Option<Duration>,
    /// Fail queued I/O after this long without a connection; -1 = off (default).
    #[arg(long, value_parser = parse_timer, allow_hyphen_values = true, help_heading = "Connection")]
    pub fast_io_fail_tmo: Option<Timer>,

    /// Latency summary per job (-L), plus the histogram (-LL), as spdk_nvme_perf.
    #[arg(short = 'L', long = "enable-sw-latency-tracking", action = clap::ArgAction::Count, help_heading = "Output")]
    pub latency: u8,
    /// Report format.
    #[arg(long, value_enum, default_value = "normal", help_heading = "Output")]
    pub output_format: OutputFormat,
    /// Exit 0 even when I/O failed or did not verify.
    #[arg(long, help_heading = "Output")]
    pub allow_errors: bool,

    /// Check the prerequisites of a real HBA at this PCI address and exit.
    #[arg(long, value_name = "PCI-ADDRESS")]
    pub check: Option<String>,
}

fn parse_fc_addr(s: &str) -> Result<FcAddr, String> {
    FcAddr::parse(s).map_err(|e| e.to_string())
}

fn parse_cpus_mask(s: &str) -> Result<Cpus, String> {
    parse::core_mask(s).map(Cpus)
}

fn parse_cpus_list(s: &str) -> Result<Cpus, String> {
    parse::cpu_list(s).map(Cpus)
}

fn parse_timer(s: &str) -> Result<Timer, String> {
    parse::timer_or_off(s).map(Timer)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, String> {
        Cli::try_parse_from(std::iter::once("fcperf").chain(args.iter().copied()))
            .map_err(|e| e.to_string())
    }

    #[test]
    fn spdk_short_options() {
        let c = parse(&[
            "-q", "32", "-o", "4k", "-w", "randrw", "-M", "70", "-t", "5", "-c", "0x3",
        ])
        .unwrap();
        assert_eq!(c.iodepth, 32);
        assert_eq!(c.bs, 4096);
        assert_eq!(c.rw, Pattern::RandRw);
        assert_eq!(c.rwmixread, Some(70));
        assert_eq!(c.runtime, Some(Duration::from_secs(5)));
        assert_eq!(c.core_mask, Some(Cpus(vec![0, 1])));
        assert_eq!(parse(&["-LL"]).unwrap().latency, 2);
    }

    #[test]
    fn fio_long_names() {
        let c = parse(&[
            "--rw=randwrite",
            "--bs=128k",
            "--iodepth=8",
            "--numjobs=2",
            "--runtime=2s",
            "--time_based",
            "--ramp_time=1s",
            "--size=1g",
            "--offset=1m",
            "--norandommap",
            "--verify=crc32c",
            "--rwmixread=10",
            "--cpus=0,1",
        ])
        .unwrap();
        assert_eq!((c.bs, c.iodepth, c.numjobs), (128 << 10, 8, Some(2)));
        assert!(c.time_based && c.norandommap);
        assert_eq!(c.size, Some(1 << 30));
        assert_eq!(c.offset, 1 << 20);
        assert_eq!(c.verify, Some(VerifyKind::Crc32c));
        assert_eq!(c.cpus, Some(Cpus(vec![0, 1])));
        assert_eq!(c.ramp_time, Some(Duration::from_secs(1)));
    }

    #[test]
    fn defaults() {
        let c = parse(&[]).unwrap();
        assert_eq!((c.lldd, c.device), (None, None));
        assert_eq!((c.iodepth, c.bs, c.rw), (128, 4096, Pattern::RandRead));
        assert_eq!(c.emu_namespace, NsKind::Null);
        assert_eq!(c.output_format, OutputFormat::Normal);
    }

    #[test]
    fn bad_values_name_the_option_and_the_forms() {
        let e = parse(&["--bs", "4q"]).unwrap_err();
        assert!(e.contains("--bs") && e.contains("4k"), "{e}");
        let e = parse(&["-q", "0"]).unwrap_err();
        assert!(e.contains("--iodepth") && e.contains("1 to 1023"), "{e}");
        let e = parse(&["--runtime", "soon"]).unwrap_err();
        assert!(e.contains("--runtime") && e.contains("20us"), "{e}");
        let e = parse(&["-c", "xyz"]).unwrap_err();
        assert!(
            e.contains("--core-mask") && e.contains("hex core mask"),
            "{e}"
        );
        let e = parse(&["--traddr", "nn-1:pn-2"]).unwrap_err();
        assert!(e.contains("--traddr") && e.contains("nn-0x<16 hex>"), "{e}");
        let e = parse(&["-r", "trtype:RDMA traddr:1.2.3.4"]).unwrap_err();
        assert!(e.contains("--transport") && e.contains("trtype:FC"), "{e}");
        let e = parse(&["--device", "3b:00"]).unwrap_err();
        assert!(e.contains("--device") && e.contains("emu:FILE.toml"), "{e}");
        assert_eq!(
            parse(&["--device", "EMU:f.toml"]).unwrap().device,
            Some(DeviceSpec::Emu(Some("f.toml".into())))
        );
        assert!(matches!(
            parse(&["--device", "3b:00.0"]).unwrap().device,
            Some(DeviceSpec::Pci(_))
        ));
        let e = parse(&["--lldd", "fcloop", "--device", "emu"]).unwrap_err();
        assert!(e.contains("--lldd") && e.contains("--device"), "{e}");
        let e = parse(&["--lldd", "lpfc"]).unwrap_err();
        assert!(e.contains("--lldd") && e.contains("fcloop"), "{e}");
        let e = parse(&["--ctrl-loss-tmo", "x"]).unwrap_err();
        assert!(e.contains("--ctrl-loss-tmo") && e.contains("-1/off"), "{e}");
        let e = parse(&["--verify", "md5"]).unwrap_err();
        assert!(
            e.contains("--verify") && e.contains("crc32c or pattern"),
            "{e}"
        );
    }

    #[test]
    fn timers() {
        let c = parse(&[
            "--ctrl-loss-tmo=-1",
            "--reconnect-delay=1",
            "--dev-loss-tmo=30",
            "--fast-io-fail-tmo=5",
        ])
        .unwrap();
        assert_eq!(c.ctrl_loss_tmo, Some(Timer(None)));
        assert_eq!(c.reconnect_delay, Some(Duration::from_secs(1)));
        assert_eq!(c.dev_loss_tmo, Some(Duration::from_secs(30)));
        assert_eq!(
            c.fast_io_fail_tmo,
            Some(Timer(Some(Duration::from_secs(5))))
        );
    }
}
