//! Sandboxes, daemons and namespaces for the end-to-end tests.

use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// The `hosts:` line README recommends.
pub const RECOMMENDED_HOSTS_LINE: &str = "hosts: files pnrp [!UNAVAIL=return] dns";

/// Most time any command of a test may take before it is killed.
const COMMAND_TIMEOUT_SECS: u64 = 120;

/// A file cargo built for this test run, found next to the test binary (`target/<profile>/deps`)
/// or one directory up (`target/<profile>`, where binaries go).
fn built(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let dir = exe.parent().expect("test binary has a directory");
    [dir.join(name), dir.join("..").join(name)]
        .into_iter()
        .find(|candidate| candidate.exists())
        .unwrap_or_else(|| {
            panic!(
                "{name} not found near {}; build the workspace first",
                dir.display()
            )
        })
}

/// The NSS module cargo built for this test run: `libnss_pnrp.so`.
pub fn nss_library() -> PathBuf {
    built("libnss_pnrp.so")
}

/// The multi-call test binary: `PNRP_TEST_MULTICALL` when set (a copy another user can run),
/// else the one cargo built.
pub fn multicall() -> PathBuf {
    std::env::var_os("PNRP_TEST_MULTICALL").map_or_else(|| built("pnrp-multicall"), PathBuf::from)
}

/// Copies files into a fresh directory that every user may read and run, for tests that act as
/// another user (the build directory may sit under a home no one else can enter).
pub fn shared_copies(files: &[&Path]) -> TempDir {
    use std::os::unix::fs::PermissionsExt;
    let dir = TempDir::new("shared-copies");
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).expect("chmod dir");
    for file in files {
        let name = file.file_name().expect("a file name");
        let copy = dir.path().join(name);
        fs::copy(file, &copy).expect("copy for another user");
        fs::set_permissions(&copy, fs::Permissions::from_mode(0o755)).expect("chmod copy");
    }
    dir
}

/// A directory removed when dropped.
#[derive(Debug)]
pub struct TempDir(PathBuf);

impl TempDir {
    /// A fresh, empty directory whose name starts with `tag`.
    pub fn new(tag: &str) -> Self {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let unique = COUNTER.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("pnrp-{tag}-{}-{unique}", std::process::id()));
        let _ = fs::remove_dir_all(&path);
        fs::create_dir_all(&path).expect("create temp dir");
        TempDir(path)
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// Whether this process is root (then namespaces need no user namespace).
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// A world for one test: its own nsswitch.conf, /etc/hosts, resolv.conf (loopback only), a
/// `/run` holding `pnrp/pnrpd.sock`, a state directory and the module as `libnss_pnrp.so.2`.
#[derive(Debug)]
pub struct Sandbox {
    dir: TempDir,
    multicall: PathBuf,
}

impl Sandbox {
    /// A sandbox whose nsswitch.conf has README's `hosts:` line.
    pub fn standard() -> Self {
        Sandbox::new(RECOMMENDED_HOSTS_LINE)
    }

    /// A sandbox whose nsswitch.conf has this `hosts:` line.
    pub fn new(hosts_line: &str) -> Self {
        let dir = TempDir::new("sandbox");
        let root = dir.path();
        fs::create_dir_all(root.join("run/pnrp")).expect("mkdir run");
        fs::create_dir_all(root.join("lib")).expect("mkdir lib");
        fs::write(root.join("nsswitch.conf"), format!("{hosts_line}\n")).expect("nsswitch");
        fs::write(
            root.join("hosts"),
            "127.0.0.1 localhost\n::1 localhost ip6-localhost\n198.51.100.7 lab-router\n",
        )
        .expect("hosts");
        // DNS, if ever consulted, goes to loopback only.
        fs::write(
            root.join("resolv.conf"),
            "nameserver 127.0.0.1\noptions timeout:1 attempts:1\n",
        )
        .expect("resolv.conf");
        symlink(nss_library(), root.join("lib/libnss_pnrp.so.2")).expect("symlink module");
        Sandbox {
            dir,
            multicall: multicall(),
        }
    }

    /// The sandbox directory.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The daemon's socket as seen from outside the namespaces.
    pub fn socket(&self) -> PathBuf {
        self.path().join("run/pnrp/pnrpd.sock")
    }

    /// The daemon's state directory.
    pub fn state_dir(&self) -> PathBuf {
        self.path().join("state")
    }

    /// Starts `pnrpd` on this sandbox's socket and waits until it accepts clients.
    pub fn start_daemon(&self) -> Daemon {
        self.start_daemon_with(&[])
    }

    /// Like [`Sandbox::start_daemon`], with more command-line arguments (`--dns 127.0.0.1:0`).
    pub fn start_daemon_with(&self, args: &[&str]) -> Daemon {
        Daemon::start_full(
            &self.multicall,
            &self.socket(),
            &self.state_dir(),
            &self.path().join("pnrpd.log"),
            &[],
            args,
        )
    }

    /// Runs `pnrpctl --socket <sandbox socket> ARGS` and returns what it did.
    pub fn ctl(&self, args: &[&str]) -> Output {
        let mut command = Command::new(&self.multicall);
        command
            .arg("pnrpctl")
            .arg("--socket")
            .arg(self.socket())
            .args(args);
        run_with_timeout(command)
    }

    /// Like [`Sandbox::ctl`], and fails the test unless it succeeded; returns its stdout.
    pub fn ctl_ok(&self, args: &[&str]) -> String {
        let output = self.ctl(args);
        assert!(
            output.status.success(),
            "pnrpctl {args:?} failed: {}",
            describe(&output)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// Runs a program inside new mount namespace (and network namespace when `network` is true)
    /// where the sandbox's files are /etc/nsswitch.conf, /etc/hosts, /etc/resolv.conf and /run,
    /// with the module on LD_LIBRARY_PATH. Panics, saying why, if namespaces cannot be made.
    pub fn run_inside(&self, network: bool, program: &str, args: &[&str]) -> Output {
        let mut command = Command::new("unshare");
        if !is_root() {
            command.args(["--user", "--map-root-user"]);
        }
        command.args(["--mount", "--propagation", "private"]);
        if network {
            command.arg("--net");
        }
        let script = format!(
            "set -e
             mount --bind \"$PNRP_SANDBOX/nsswitch.conf\" /etc/nsswitch.conf
             mount --bind \"$PNRP_SANDBOX/hosts\" /etc/hosts
             mount --bind \"$PNRP_SANDBOX/resolv.conf\" /etc/resolv.conf
             mount --bind \"$PNRP_SANDBOX/run\" /run
             {}
             echo pnrp-sandbox-ready >&2
             exec \"$@\"",
            if network { "ip link set lo up" } else { "" }
        );
        command
            .args(["--", "sh", "-c", &script, "sh", program])
            .args(args)
            .env("PNRP_SANDBOX", self.path())
            .env("LD_LIBRARY_PATH", self.path().join("lib"))
            .env_remove("PNRP_SOCKET");
        let output = run_with_timeout(command);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains("pnrp-sandbox-ready"),
            "cannot set up the test's namespaces (this test needs root or unprivileged user \
             namespaces, and `unshare`, `mount`, `ip`): {}",
            describe(&output)
        );
        output
    }

    /// Runs the `gai` test program inside the sandbox's namespaces.
    pub fn gai(&self, args: &[&str]) -> Output {
        let mut full = vec!["gai"];
        full.extend_from_slice(args);
        let multicall = self.multicall.to_string_lossy().into_owned();
        self.run_inside(false, &multicall, &full)
    }

    /// `getent ahosts NAME` under valgrind inside the sandbox's namespaces: exit status 99 on any
    /// memory error or definite leak.
    pub fn valgrind_getent(&self, name: &str) -> Output {
        self.run_inside(
            false,
            "valgrind",
            &[
                "-q",
                "--error-exitcode=99",
                "--errors-for-leak-kinds=definite",
                "--leak-check=full",
                "getent",
                "ahosts",
                name,
            ],
        )
    }

    /// The multi-call binary.
    pub fn multicall(&self) -> &Path {
        &self.multicall
    }
}

/// Runs a command with a hard time limit, capturing its output.
pub fn run_with_timeout(command: Command) -> Output {
    run_within(command, COMMAND_TIMEOUT_SECS)
}

/// As [`run_with_timeout`], killed after `limit_secs` instead.
pub fn run_within(command: Command, limit_secs: u64) -> Output {
    let mut wrapped = Command::new("timeout");
    wrapped.args(["-k", "5", &limit_secs.to_string()]);
    wrapped.arg(command.get_program()).args(command.get_args());
    for (key, value) in command.get_envs() {
        match value {
            Some(value) => wrapped.env(key, value),
            None => wrapped.env_remove(key),
        };
    }
    wrapped
        .stdin(Stdio::null())
        .output()
        .expect("spawn command")
}

/// Exit status, stdout and stderr of a finished command, for assertion messages.
pub fn describe(output: &Output) -> String {
    format!(
        "{}\n--- stdout\n{}--- stderr\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// A running `pnrpd`, killed when dropped (tests that check shutdown call [`Daemon::stop`]).
#[derive(Debug)]
pub struct Daemon {
    child: Option<Child>,
    socket: PathBuf,
    log: PathBuf,
}

impl Daemon {
    /// Starts a daemon with no configuration file and waits for its socket.
    pub fn start(multicall: &Path, socket: &Path, state_dir: &Path, log: &Path) -> Daemon {
        Daemon::start_with(multicall, socket, state_dir, log, &[])
    }

    /// Like [`Daemon::start`] with extra environment variables.
    pub fn start_with(
        multicall: &Path,
        socket: &Path,
        state_dir: &Path,
        log: &Path,
        env: &[(&str, &str)],
    ) -> Daemon {
        Daemon::start_full(multicall, socket, state_dir, log, env, &[])
    }

    /// Like [`Daemon::start_with`] with more command-line arguments.
    pub fn start_full(
        multicall: &Path,
        socket: &Path,
        state_dir: &Path,
        log: &Path,
        env: &[(&str, &str)],
        args: &[&str],
    ) -> Daemon {
        let mut command = Command::new(multicall);
        command
            .arg("pnrpd")
            .args([
                "--config",
                "/dev/null",
                "--log-level",
                "debug",
                "--no-cloud",
            ])
            .arg("--socket")
            .arg(socket)
            .arg("--state-dir")
            .arg(state_dir)
            .args(args)
            .envs(env.iter().copied());
        Daemon::spawn(command, socket, log)
    }

    /// Starts `command` (a `pnrpd`, perhaps behind a wrapper that execs it, so that signals
    /// reach it) with its stderr in `log`, and waits for `socket`.
    pub fn spawn(mut command: Command, socket: &Path, log: &Path) -> Daemon {
        let log_file = fs::File::create(log).expect("daemon log");
        let child = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log_file)
            .spawn()
            .expect("spawn pnrpd");
        let mut daemon = Daemon {
            child: Some(child),
            socket: socket.into(),
            log: log.into(),
        };
        daemon.wait_ready();
        daemon
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if std::os::unix::net::UnixStream::connect(&self.socket).is_ok() {
                return;
            }
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|child| child.try_wait().ok().flatten())
            {
                panic!("pnrpd exited at start ({status}): {}", self.log());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!(
            "pnrpd did not open {} in time: {}",
            self.socket.display(),
            self.log()
        );
    }

    /// What the daemon logged so far.
    pub fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The daemon's process id.
    pub fn pid(&self) -> i32 {
        self.child.as_ref().map_or(0, |child| child.id() as i32)
    }

    /// Sends a signal.
    pub fn signal(&self, signal: i32) {
        // SAFETY: kill on our own child's pid.
        unsafe { libc::kill(self.pid(), signal) };
    }

    /// Sends SIGTERM and waits for the exit (at most 10 s, then SIGKILL and a failed test).
    pub fn stop(mut self) -> ExitStatus {
        self.signal(libc::SIGTERM);
        self.wait(Duration::from_secs(10)).unwrap_or_else(|| {
            self.signal(libc::SIGKILL);
            panic!("pnrpd ignored SIGTERM: {}", self.log())
        })
    }

    /// Kills the daemon with SIGKILL (nothing runs after it) and reaps it.
    pub fn kill9(mut self) {
        self.signal(libc::SIGKILL);
        self.wait(Duration::from_secs(10));
    }

    fn wait(&mut self, limit: Duration) -> Option<ExitStatus> {
        let mut child = self.child.take()?;
        let deadline = Instant::now() + limit;
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return Some(status);
            }
            if Instant::now() > deadline {
                self.child = Some(child);
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SAFETY: signals to our own child.
            unsafe {
                libc::kill(child.id() as i32, libc::SIGCONT);
                libc::kill(child.id() as i32, libc::SIGKILL);
            }
            let _ = child.wait();
        }
    }
}

/// Runs a `tests/scripts/` host scenario (`SCRIPT MULTICALL LIBDIR ARGS…`) inside private mount
/// and network namespaces (through a user namespace when not root), so that every host namespace
/// it makes hangs off a private network, never off the machine's. Prints its report, asserts
/// that it ends with "N passed, 0 failed", and returns it.
pub fn run_host_scenario(script: &str, args: &[&str]) -> String {
    run_host_scenario_within(script, args, COMMAND_TIMEOUT_SECS)
}

/// As [`run_host_scenario`], killed after `limit_secs` (scenarios that wait on the protocol's
/// clocks need longer).
pub fn run_host_scenario_within(script: &str, args: &[&str], limit_secs: u64) -> String {
    let libdir = TempDir::new("scenario-lib");
    std::os::unix::fs::symlink(nss_library(), libdir.path().join("libnss_pnrp.so.2"))
        .expect("link the NSS module");
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scripts")
        .join(script);
    let mut command = Command::new("unshare");
    if !is_root() {
        command.args(["--user", "--map-root-user"]);
    }
    command.args(["--mount", "--net", "--propagation", "private", "--", "bash"]);
    command
        .arg(&script)
        .arg(multicall())
        .arg(libdir.path())
        .args(args);
    let output = run_within(command, limit_secs);
    let stdout = String::from_utf8_lossy(&output.stdout);
    println!("{stdout}");
    assert!(output.status.success(), "{}", describe(&output));
    assert!(
        stdout
            .lines()
            .last()
            .unwrap_or_default()
            .ends_with(" passed, 0 failed"),
        "{stdout}"
    );
    stdout.into_owned()
}
