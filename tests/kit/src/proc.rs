//! A child process with its config file and log, killed when dropped.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

#[derive(Debug)]
pub struct Proc {
    child: Option<Child>,
    log: PathBuf,
}

impl Proc {
    /// Runs `bin --config config` with `env`, stderr appended to `log`.
    pub fn spawn(bin: PathBuf, config: &Path, log: PathBuf, env: &[(String, String)]) -> Proc {
        let mut cmd = Command::new(bin);
        cmd.arg("--config")
            .arg(config)
            .envs(env.iter().map(|(k, v)| (k, v)));
        Proc::run(cmd, log)
    }

    /// [`Proc::spawn`] under open-file limits (`RLIMIT_NOFILE`) of `soft` and `hard` (the
    /// process may raise its soft limit up to `hard`, no further), set by the shell that then
    /// becomes the process.
    pub fn spawn_with_open_files(
        bin: PathBuf,
        config: &Path,
        log: PathBuf,
        env: &[(String, String)],
        (soft, hard): (u64, u64),
    ) -> Proc {
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            // The soft limit first: a hard limit below the current soft one is refused.
            .arg("ulimit -S -n \"$0\" && ulimit -H -n \"$1\" && exec \"$2\" --config \"$3\"")
            .arg(soft.to_string())
            .arg(hard.to_string())
            .arg(bin)
            .arg(config)
            .envs(env.iter().map(|(k, v)| (k, v)));
        Proc::run(cmd, log)
    }

    /// Runs `bin args…`, stderr appended to `log` (the bench's servers take flags, not a
    /// config file).
    pub fn spawn_args(bin: PathBuf, args: &[&str], log: PathBuf) -> Proc {
        let mut cmd = Command::new(bin);
        cmd.args(args);
        Proc::run(cmd, log)
    }

    fn run(mut cmd: Command, log: PathBuf) -> Proc {
        // Settings the runner's environment may carry (`SIQ_EDGE_TOKEN`, `SIQ_ADMIN_TOKEN`,
        // `SIQ_SECRETS_KEY`, …) win over a config file: a process the kit starts takes only
        // what its test gives it (`cmd.envs`, set before, wins over the removal).
        let given: Vec<_> = cmd.get_envs().map(|(k, _)| k.to_owned()).collect();
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("SIQ_") && !given.contains(&k) {
                cmd.env_remove(&k);
            }
        }
        let file = std::fs::File::options()
            .create(true)
            .append(true)
            .open(&log)
            .expect("log");
        let child = cmd
            .stdout(Stdio::null())
            .stderr(file)
            .spawn()
            .expect("spawn");
        Proc {
            child: Some(child),
            log,
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Its exit status, if it has exited.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child
            .as_mut()
            .and_then(|c| c.try_wait().ok().flatten())
    }

    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM, then waits (at most 15 s) for the exit status.
    pub fn sigterm(&mut self) -> ExitStatus {
        let mut c = self.child.take().expect("running");
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(c.id().to_string())
            .status();
        let t0 = Instant::now();
        loop {
            if let Ok(Some(st)) = c.try_wait() {
                return st;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(15),
                "no exit after SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Resident memory, KiB.
    pub fn rss_kib(&self) -> u64 {
        let pid = self.pid().expect("running");
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS")
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill9();
    }
}
