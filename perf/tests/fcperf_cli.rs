//! Runs the fcperf binary for about a second per case, on the emulated HBA
//! (`--device emu`, the default) and on fcloop (`--lldd fcloop`), and checks
//! what it reports: correctness (no errors, verified data, drills recorded, fio
//! field names), never speed.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::{Command, Output};

use serde_json::Value;

fn fcperf(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_fcperf"))
        .args(args)
        .output()
        .expect("run fcperf")
}

/// The two paths every workload test runs on.
const BACKENDS: [&[&str]; 2] = [&["--device", "emu"], &["--lldd", "fcloop"]];

fn json_run(args: &[&str]) -> Value {
    let mut all = vec!["--output-format", "json"];
    all.extend_from_slice(args);
    let out = fcperf(&all);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "fcperf {args:?} failed: {stderr}");
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}\nstderr: {stderr}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

fn assert_fio_fields(dir: &Value) {
    for k in ["iops", "bw", "bw_bytes", "io_bytes", "runtime", "total_ios"] {
        assert!(dir[k].is_number(), "missing {k}: {dir}");
    }
    for lat in ["lat_ns", "clat_ns"] {
        for k in ["min", "max", "mean", "stddev", "N"] {
            assert!(dir[lat][k].is_number(), "missing {lat}.{k}: {dir}");
        }
        for p in ["1.000000", "50.000000", "99.000000", "99.990000"] {
            assert!(
                dir[lat]["percentile"][p].is_number(),
                "missing {lat}.percentile.{p}"
            );
        }
    }
    // Units: bw is KiB/s of bw_bytes.
    assert_eq!(
        dir["bw"].as_u64().unwrap(),
        dir["bw_bytes"].as_u64().unwrap() / 1024
    );
}

fn assert_clean(v: &Value) {
    let jobs = v["jobs"].as_array().unwrap();
    assert!(!jobs.is_empty());
    for j in jobs {
        assert_eq!(j["errors"], 0, "{}", j["error_log"]);
        assert_eq!(j["verify_errors"], 0, "{}", j["error_log"]);
        assert_eq!(j["error"], 0);
        assert_fio_fields(&j["read"]);
        assert_fio_fields(&j["write"]);
    }
}

#[test]
fn verified_mixed_io_on_ram_namespace() {
    for backend in BACKENDS {
        verified_mixed_io_on(backend);
    }
}

fn verified_mixed_io_on(backend: &[&str]) {
    let v = json_run(&[
        backend[0],
        backend[1],
        "--emu-namespace",
        "ram",
        "--rw",
        "randrw",
        "--rwmixread",
        "50",
        "--bs",
        "4k",
        "--iodepth",
        "16",
        "--size",
        "4m",
        "--time_based",
        "--runtime",
        "1s",
        "--verify",
        "crc32c",
    ]);
    assert_clean(&v);
    let j = &v["jobs"][0];
    assert!(j["read"]["total_ios"].as_u64().unwrap() > 0);
    assert!(j["write"]["total_ios"].as_u64().unwrap() > 0);
    assert_eq!(
        j["read"]["io_bytes"].as_u64().unwrap(),
        j["read"]["total_ios"].as_u64().unwrap() * 4096
    );
    assert!(j["verified_ios"].as_u64().unwrap() > 0);
    assert_eq!(v["drills"].as_array().unwrap().len(), 0);
}

#[test]
fn restart_drills_lose_no_io() {
    for backend in BACKENDS {
        restart_drills_on(backend);
    }
}

fn restart_drills_on(backend: &[&str]) {
    let v = json_run(&[
        backend[0],
        backend[1],
        "--emu-namespace",
        "ram",
        "-w",
        "randrw",
        "-M",
        "70",
        "-q",
        "32",
        "--size",
        "4m",
        "--time_based",
        "-t",
        "1",
        "--verify",
        "pattern",
        "--restart-every",
        "200ms",
    ]);
    assert_clean(&v);
    assert!(v["jobs"][0]["verified_ios"].as_u64().unwrap() > 0);
    let drills = v["drills"].as_array().unwrap();
    assert!(!drills.is_empty(), "no drill recorded: {v}");
    for d in drills {
        assert_eq!(d["kind"], "restart");
        assert!(d["start_s"].as_f64().unwrap() > 0.0);
        assert!(
            d["rport_delete_ms"].as_f64().is_some(),
            "no delete callback: {d}"
        );
        assert!(d["resume_ms"].as_f64().is_some(), "I/O did not resume: {d}");
        assert!(d["resume_ms"].as_f64() >= d["rport_delete_ms"].as_f64());
        assert_eq!(d["failed_ios"], 0);
    }
}

#[test]
fn link_bounce_drills_lose_no_io() {
    for backend in BACKENDS {
        link_bounce_drills_on(backend);
    }
}

fn link_bounce_drills_on(backend: &[&str]) {
    let v = json_run(&[
        backend[0],
        backend[1],
        "--emu-namespace",
        "ram",
        "--rw",
        "randrw",
        "--size",
        "4m",
        "--iodepth",
        "32",
        "--verify",
        "crc32c",
        "--link-bounce-every",
        "200ms",
        "--time_based",
        "-t",
        "1",
    ]);
    assert_clean(&v);
    assert!(v["jobs"][0]["verified_ios"].as_u64().unwrap() > 0);
    let drills = v["drills"].as_array().unwrap();
    assert!(!drills.is_empty(), "no drill recorded: {v}");
    for d in drills {
        assert_eq!(d["kind"], "link-bounce");
        assert!(d["rport_delete_ms"].as_f64().is_some(), "{d}");
        assert!(d["resume_ms"].as_f64().is_some(), "{d}");
        assert_eq!(d["failed_ios"], 0);
    }
}

#[test]
fn write_only_verify_reads_every_block_back() {
    // 2 MiB in 4 KiB writes, then a read-back pass over the 512 written blocks.
    let v = json_run(&[
        "--emu-namespace",
        "ram",
        "--rw",
        "write",
        "--size",
        "2m",
        "--iodepth",
        "8",
        "--verify",
        "crc32c",
        "-t",
        "5",
    ]);
    assert_clean(&v);
    let j = &v["jobs"][0];
    assert_eq!(j["write"]["io_bytes"], 2 << 20);
    assert_eq!(j["verified_ios"], 512);
}

#[test]
fn read_only_verify_prefills_then_checks() {
    let v = json_run(&[
        "--emu-namespace",
        "ram",
        "--rw",
        "randread",
        "--size",
        "1m",
        "--iodepth",
        "8",
        "--verify",
        "pattern",
        "-t",
        "5",
    ]);
    assert_clean(&v);
    let j = &v["jobs"][0];
    // Without time_based, --size ends the run: every block read once, each checked.
    assert_eq!(j["read"]["total_ios"], 256);
    assert_eq!(j["verified_ios"], 256);
}

#[test]
fn failed_io_sets_the_exit_code_and_is_counted_per_drill() {
    // fast_io_fail_tmo 0: I/O held across a link bounce fails at once with 0x370.
    let args = [
        "--lldd",
        "fcloop",
        "--output-format",
        "json",
        "--link-bounce-every",
        "300ms",
        "--fast-io-fail-tmo",
        "0",
        "-q",
        "16",
        "-t",
        "1",
    ];
    let out = fcperf(&args);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(
        e.contains("I/O errors") && e.contains("--allow-errors"),
        "{e}"
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let errors = v["jobs"][0]["errors"].as_u64().unwrap();
    assert!(errors > 0);
    assert_eq!(v["jobs"][0]["error"], 1);
    let log = v["jobs"][0]["error_log"][0].as_str().unwrap();
    assert!(
        log.contains("sct 0x3 sc 0x70"),
        "host path error expected: {log}"
    );
    let drills = v["drills"].as_array().unwrap();
    assert!(!drills.is_empty());
    let failed: u64 = drills
        .iter()
        .map(|d| d["failed_ios"].as_u64().unwrap())
        .sum();
    assert!(failed > 0 && failed <= errors, "{failed} of {errors}");

    let mut allowed = args.to_vec();
    allowed.push("--allow-errors");
    assert!(fcperf(&allowed).status.success());
}

#[test]
fn fw_error_drills_on_the_emulated_hba_lose_no_io() {
    let v = json_run(&[
        "--emu-namespace",
        "ram",
        "--rw",
        "randrw",
        "--size",
        "4m",
        "-q",
        "32",
        "--verify",
        "crc32c",
        "--fw-error-every",
        "300ms",
        "--time_based",
        "-t",
        "1",
    ]);
    assert_clean(&v);
    assert_eq!(v["global options"]["ioengine"], "ufc-hba-emu");
    assert!(v["jobs"][0]["verified_ios"].as_u64().unwrap() > 0);
    let drills = v["drills"].as_array().unwrap();
    assert!(!drills.is_empty(), "no drill recorded: {v}");
    for d in drills {
        assert_eq!(d["kind"], "fw-error");
        assert!(d["rport_delete_ms"].as_f64().is_some(), "{d}");
        assert!(d["resume_ms"].as_f64().is_some(), "{d}");
        assert_eq!(d["failed_ios"], 0);
    }
}

#[test]
fn device_forms_and_their_errors() {
    // A fabric file: two subsystems behind one target port; both are connected.
    let (_dir, dev) = fabric_file("07", &["file-a", "file-b"]);
    let v = json_run(&["--device", &dev, "--numjobs", "2", "-q", "8", "-t", "1"]);
    assert_clean(&v);
    let devices: Vec<&str> = v["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["device"].as_str().unwrap())
        .collect();
    for nqn in ["file-a", "file-b"] {
        assert!(
            devices
                .iter()
                .any(|d| d.contains(nqn) && d.contains("nn-0x20000090fb000007")),
            "{devices:?}"
        );
    }

    let out = fcperf(&["--device", "emu:/nonexistent/fabric.toml", "-t", "1"]);
    assert!(!out.status.success());
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(e.contains("/nonexistent/fabric.toml"), "{e}");

    // No IOMMU and no such device here: the vfio error with its fix.
    let out = fcperf(&["--device", "0000:ff:1f.7", "--subnqn", "nqn.x", "-t", "1"]);
    assert!(!out.status.success());
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(
        e.contains("--device 0000:ff:1f.7") && e.contains("lspci"),
        "{e}"
    );
    let out = fcperf(&["--device", "3b:00", "-t", "1"]);
    assert_eq!(out.status.code(), Some(2));
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(
        e.contains("--device") && e.contains("0000:3b:00.0") && e.contains("emu:FILE.toml"),
        "{e}"
    );
    let out = fcperf(&[
        "--device",
        "0000:3b:00.0",
        "--emu-latency",
        "20us",
        "-t",
        "1",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(
        e.contains("--emu-latency") && e.contains("--device emu"),
        "{e}"
    );
}

/// A fabric file with one host port and one target port (WWNs ending in
/// `wwn_tail`), a subsystem `nqn.2024-01.io.ufc:<name>` with one null namespace
/// per name; returns the file's directory, which keeps it alive, and the
/// `--device emu:FILE` value.
fn fabric_file(wwn_tail: &str, subsystems: &[&str]) -> (tempfile::TempDir, String) {
    let mut text = format!(
        r#"
[[host_port]]
wwnn = "0x20000090fa000001"
wwpn = "0x10000090fa000001"

[[target_port]]
wwnn = "0x20000090fb0000{wwn_tail}"
wwpn = "0x10000090fb0000{wwn_tail}"
"#
    );
    for name in subsystems {
        text += &format!(
            r#"
[[target_port.subsystem]]
nqn = "nqn.2024-01.io.ufc:{name}"
[[target_port.subsystem.namespace]]
backend = "null"
blocks = 65536
"#
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let toml = dir.path().join("fabric.toml");
    std::fs::write(&toml, text).unwrap();
    let dev = format!("emu:{}", toml.display());
    (dir, dev)
}

#[test]
fn emu_latency_is_the_floor_of_every_completion_on_the_emulated_hba() {
    const LATENCY_NS: f64 = 200_000.0;
    let (_dir, file) = fabric_file("09", &["latency"]);
    for dev in ["emu", file.as_str()] {
        let v = json_run(&[
            "--device",
            dev,
            "--emu-latency",
            "200us",
            "--rw",
            "randread",
            "-q",
            "4",
            "-t",
            "1",
        ]);
        assert_clean(&v);
        let read = &v["jobs"][0]["read"];
        assert!(read["total_ios"].as_u64().unwrap() > 0, "{read}");
        for lat in ["lat_ns", "clat_ns"] {
            let mean = read[lat]["mean"].as_f64().unwrap();
            let p50 = read[lat]["percentile"]["50.000000"].as_f64().unwrap();
            assert!(
                mean >= LATENCY_NS && p50 >= LATENCY_NS,
                "{dev}: {lat} mean {mean} ns, p50 {p50} ns below the 200 us service time"
            );
        }
    }
}

#[test]
fn fw_error_drill_and_bad_values_are_refused_clearly() {
    let out = fcperf(&["--lldd", "fcloop", "--fw-error-every", "2s", "-t", "1"]);
    assert!(!out.status.success());
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(
        e.contains("--fw-error-every") && e.contains("not available on fcloop"),
        "{e}"
    );

    let out = fcperf(&["--bs", "4q"]);
    assert_eq!(out.status.code(), Some(2));
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(e.contains("--bs") && e.contains("4k"), "{e}");

    let out = fcperf(&["--verify", "crc32c", "-t", "1"]);
    assert!(!out.status.success());
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(
        e.contains("--verify") && e.contains("--emu-namespace ram"),
        "{e}"
    );

    let out = fcperf(&[
        "--traddr",
        "nn-0x2000000000000009:pn-0x1000000000000009",
        "-t",
        "1",
    ]);
    assert!(!out.status.success());
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(
        e.contains("--traddr")
            && e.contains("is not on the fabric")
            && e.contains("nn-0x20000090fa002779"),
        "{e}"
    );
}

#[test]
fn check_reports_a_checklist() {
    let out = fcperf(&["--check", "0000:ff:1f.7"]);
    assert!(!out.status.success(), "no such device on a test machine");
    let t = String::from_utf8_lossy(&out.stdout);
    assert!(t.contains("Prerequisites for 0000:ff:1f.7"), "{t}");
    assert!(t.contains("[ ok ] PCI address parses"), "{t}");
    assert!(t.contains("[FAIL]"), "{t}");
    assert!(t.contains("hugepages") && t.contains("memlock"), "{t}");
}
