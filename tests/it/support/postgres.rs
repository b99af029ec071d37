//! A throw-away PostgreSQL server (initdb + pg_ctl in a temporary directory) for tests.
//!
//! The admin (`postgres`) logs in without a password over the unix socket in the temporary
//! directory, and with a password over TCP; every other role needs its SCRAM password over TCP,
//! so a wrong password really fails. Binaries come from `PORTICO_PG_BIN_DIR`, else the directory
//! of `pg_ctl` on PATH, else the newest `/usr/lib/postgresql/*/bin` (Debian) or
//! `/usr/pgsql-*/bin` (RPM). PostgreSQL refuses to run as root, so under root the server runs as
//! the unprivileged user `PORTICO_PG_USER` (default `postgres`) via `runuser` or `setpriv`.

use std::ffi::OsStr;
use std::net::TcpListener;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use rand::distr::{Alphanumeric, SampleString};
use tempfile::TempDir;

const ADMIN_USER: &str = "postgres";
const PORT_ATTEMPTS: usize = 8;
const READY_DEADLINE: Duration = Duration::from_secs(60);
/// Durability is pointless for a server that is deleted after the test; these make it start and
/// write fast on a shared CI machine. Every statement is logged so a test can check that no
/// secret reaches the server's log, and so a failure can be diagnosed from `log()`.
const SERVER_OPTIONS: &str = "-c fsync=off -c synchronous_commit=off -c full_page_writes=off \
     -c shared_buffers=16MB -c max_connections=50 -c log_statement=all";

/// A running throw-away server; stopped (`pg_ctl stop -m immediate`) and deleted on drop.
pub struct TempPostgres {
    bin_dir: PathBuf,
    data_dir: PathBuf,
    socket_dir: PathBuf,
    port: u16,
    admin_password: String,
    run_as: Option<RunAs>,
    // Dropped last (fields drop in order), after the server is stopped.
    dir: TempDir,
}

/// The unprivileged account the server runs under when the tests run as root.
#[derive(Clone)]
struct RunAs {
    user: String,
    uid: u32,
    gid: u32,
    via: PathBuf,
}

impl TempPostgres {
    /// Starts a fresh server; blocking work goes to the blocking pool.
    pub async fn start() -> anyhow::Result<Self> {
        tokio::task::spawn_blocking(Self::start_blocking)
            .await
            .context("postgres start task panicked")?
    }

    /// Runs initdb, starts the server on a free loopback port and waits until it accepts
    /// connections over both TCP and the unix socket.
    pub fn start_blocking() -> anyhow::Result<Self> {
        let bin_dir = find_bin_dir()?;
        let dir = tempfile::Builder::new()
            .prefix("portico-pg-")
            .tempdir()
            .context("failed to create the postgres temp dir")?;
        let run_as = if dir.path().metadata()?.uid() == 0 {
            Some(unprivileged_account()?)
        } else {
            None
        };
        let data_dir = dir.path().join("data");
        let socket_dir = dir.path().join("socket");
        std::fs::create_dir(&socket_dir)?;
        let admin_password = Alphanumeric.sample_string(&mut rand::rng(), 24);
        let password_file = dir.path().join("admin-password");
        std::fs::write(&password_file, format!("{admin_password}\n"))?;
        if let Some(account) = &run_as {
            for path in [dir.path(), &socket_dir, &password_file] {
                std::os::unix::fs::chown(path, Some(account.uid), Some(account.gid))
                    .with_context(|| format!("failed to chown {}", path.display()))?;
            }
        }

        let mut server = TempPostgres {
            bin_dir,
            data_dir,
            socket_dir,
            port: 0,
            admin_password,
            run_as,
            dir,
        };
        server.initdb(&password_file)?;
        std::fs::remove_file(&password_file)?;
        server.start_on_free_port()?;
        server.wait_until_accepting()?;
        Ok(server)
    }

    /// Admin connection string over the unix socket (trust auth), as key=value conninfo.
    pub fn admin_url(&self) -> String {
        format!(
            "host={} port={} user={ADMIN_USER} dbname=postgres",
            conninfo_value(&self.socket_dir.to_string_lossy()),
            self.port
        )
    }

    /// Admin connection URL over TCP, with the admin's password in it.
    pub fn admin_tcp_url(&self) -> String {
        format!(
            "postgres://{ADMIN_USER}:{}@{}:{}/postgres",
            self.admin_password,
            self.host(),
            self.port
        )
    }

    pub fn admin_password(&self) -> &str {
        &self.admin_password
    }

    /// TCP host clients use.
    pub fn host(&self) -> &str {
        "127.0.0.1"
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The directory holding the server's unix socket.
    pub fn socket_dir(&self) -> &Path {
        &self.socket_dir
    }

    /// A client program of the same installation (`psql`, `pg_isready`, …).
    pub fn bin(&self, program: &str) -> PathBuf {
        self.bin_dir.join(program)
    }

    /// The server log so far, for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_file()).unwrap_or_default()
    }

    fn log_file(&self) -> PathBuf {
        self.dir.path().join("server.log")
    }

    fn initdb(&self, password_file: &Path) -> anyhow::Result<()> {
        let output = self
            .server_command("initdb")
            .arg("-D")
            .arg(&self.data_dir)
            .args([
                "-U",
                ADMIN_USER,
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
            ])
            .args(["-E", "UTF8", "--locale=C", "--no-sync"])
            .arg(format!("--pwfile={}", password_file.display()))
            .output()
            .context("failed to run initdb")?;
        ensure_success("initdb", &output)?;
        let settings = format!(
            "\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = {}\n",
            conninfo_value(&self.socket_dir.to_string_lossy())
        );
        let config_path = self.data_dir.join("postgresql.conf");
        let mut config = std::fs::read_to_string(&config_path)?;
        config.push_str(&settings);
        std::fs::write(&config_path, config)?;
        Ok(())
    }

    /// Binding port 0 and releasing it leaves a window in which someone else may take the port;
    /// the server then fails to bind and the next attempt picks another one.
    fn start_on_free_port(&mut self) -> anyhow::Result<()> {
        let mut last_failure = String::new();
        for _ in 0..PORT_ATTEMPTS {
            self.port = free_loopback_port()?;
            let log_before = self.log().len();
            let output = self
                .server_command("pg_ctl")
                .arg("-D")
                .arg(&self.data_dir)
                .arg("-l")
                .arg(self.log_file())
                .args(["-w", "-t", "60", "-o"])
                .arg(format!("-p {} {SERVER_OPTIONS}", self.port))
                .arg("start")
                .output()
                .context("failed to run pg_ctl start")?;
            if output.status.success() {
                return Ok(());
            }
            let log = self.log();
            let new_log = log.get(log_before..).unwrap_or(&log).to_owned();
            if !(new_log.contains("could not bind") || new_log.contains("already in use")) {
                bail!(
                    "failed to start postgres: {}\n{}\nserver log:\n{new_log}",
                    String::from_utf8_lossy(&output.stdout),
                    String::from_utf8_lossy(&output.stderr)
                );
            }
            last_failure = new_log;
        }
        bail!("failed to find a free port for postgres:\n{last_failure}")
    }

    fn wait_until_accepting(&self) -> anyhow::Result<()> {
        let deadline = Instant::now() + READY_DEADLINE;
        let socket_dir = self.socket_dir.to_string_lossy().into_owned();
        for host in [self.host(), socket_dir.as_str()] {
            loop {
                let output = Command::new(self.bin("pg_isready"))
                    .args([
                        "-q", "-t", "2", "-h", host, "-U", ADMIN_USER, "-d", "postgres",
                    ])
                    .arg("-p")
                    .arg(self.port.to_string())
                    .stdin(Stdio::null())
                    .output()
                    .context("failed to run pg_isready")?;
                if output.status.success() {
                    break;
                }
                if Instant::now() > deadline {
                    bail!(
                        "postgres did not accept connections on {host} within {READY_DEADLINE:?}; log:\n{}",
                        self.log()
                    );
                }
                std::thread::sleep(Duration::from_millis(25));
            }
        }
        Ok(())
    }

    /// A command for a server program, run as the unprivileged account when we are root, from a
    /// working directory that account can read.
    fn server_command(&self, program: &str) -> Command {
        let binary = self.bin(program);
        let mut command = match &self.run_as {
            None => Command::new(&binary),
            Some(account) => {
                let mut command = Command::new(&account.via);
                if account.via.file_name() == Some(OsStr::new("setpriv")) {
                    command
                        .arg(format!("--reuid={}", account.uid))
                        .arg(format!("--regid={}", account.gid))
                        .arg("--clear-groups");
                } else {
                    command.args(["-u", &account.user, "--"]);
                }
                command.arg(&binary);
                command
            }
        };
        command
            .current_dir(self.dir.path())
            .env("LC_ALL", "C")
            .env_remove("PGDATA")
            .stdin(Stdio::null());
        command
    }
}

impl Drop for TempPostgres {
    fn drop(&mut self) {
        let stopped = self
            .server_command("pg_ctl")
            .arg("-D")
            .arg(&self.data_dir)
            .args(["-m", "immediate", "-w", "-t", "30", "stop"])
            .output()
            .is_ok_and(|output| output.status.success());
        if !stopped {
            // Last resort so no postmaster outlives its deleted data directory.
            let pid = std::fs::read_to_string(self.data_dir.join("postmaster.pid"))
                .ok()
                .and_then(|text| text.lines().next().map(str::trim).map(str::to_owned));
            if let Some(pid) = pid {
                let _ = Command::new("kill").args(["-KILL", &pid]).status();
            }
        }
    }
}

fn ensure_success(what: &str, output: &Output) -> anyhow::Result<()> {
    if !output.status.success() {
        bail!(
            "{what} failed ({}):\n{}\n{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(())
}

/// Single-quoted conninfo / postgresql.conf value (both escape `'` and `\` with a backslash).
fn conninfo_value(value: &str) -> String {
    format!("'{}'", value.replace('\\', "\\\\").replace('\'', "\\'"))
}

fn free_loopback_port() -> anyhow::Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("failed to bind 127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

fn find_bin_dir() -> anyhow::Result<PathBuf> {
    let has_server = |dir: &Path| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file();
    if let Some(dir) = std::env::var_os("PORTICO_PG_BIN_DIR") {
        let dir = PathBuf::from(dir);
        if has_server(&dir) {
            return Ok(dir);
        }
        bail!(
            "PORTICO_PG_BIN_DIR={} has no initdb and pg_ctl",
            dir.display()
        );
    }
    // Resolve symlinks such as /usr/local/bin/pg_ctl so the sibling programs match it.
    let beside_pg_ctl = find_in_path("pg_ctl")
        .and_then(|pg_ctl| pg_ctl.canonicalize().ok())
        .and_then(|pg_ctl| pg_ctl.parent().map(Path::to_path_buf));
    if let Some(dir) = beside_pg_ctl.filter(|dir| has_server(dir)) {
        return Ok(dir);
    }
    let mut candidates: Vec<(u32, PathBuf)> = Vec::new();
    for (root, prefix) in [("/usr/lib/postgresql", ""), ("/usr", "pgsql-")] {
        let Ok(entries) = std::fs::read_dir(root) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(version) = name
                .strip_prefix(prefix)
                .and_then(|v| v.parse::<u32>().ok())
            else {
                continue;
            };
            let dir = entry.path().join("bin");
            if has_server(&dir) {
                candidates.push((version, dir));
            }
        }
    }
    candidates.sort();
    candidates.pop().map(|(_, dir)| dir).context(
        "failed to find PostgreSQL server binaries (initdb, pg_ctl): install the PostgreSQL \
         server (Debian: postgresql) or set PORTICO_PG_BIN_DIR",
    )
}

fn find_in_path(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/bin", "/bin"].map(PathBuf::from))
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
}

fn unprivileged_account() -> anyhow::Result<RunAs> {
    let user = std::env::var("PORTICO_PG_USER").unwrap_or_else(|_| ADMIN_USER.to_owned());
    let id = |flag: &str| -> anyhow::Result<u32> {
        let output = Command::new("id")
            .args([flag, &user])
            .output()
            .context("failed to run id")?;
        if !output.status.success() {
            bail!(
                "tests run as root, so PostgreSQL needs an unprivileged user, but user {user:?} \
                 does not exist: create it (useradd --system {user}) or set PORTICO_PG_USER"
            );
        }
        String::from_utf8_lossy(&output.stdout)
            .trim()
            .parse()
            .with_context(|| format!("failed to parse `id {flag} {user}`"))
    };
    let uid = id("-u")?;
    let gid = id("-g")?;
    if uid == 0 {
        bail!("PORTICO_PG_USER={user} is root; PostgreSQL refuses to run as root");
    }
    let via = find_in_path("runuser")
        .or_else(|| find_in_path("setpriv"))
        .context("running as root needs runuser or setpriv (util-linux) to drop privileges")?;
    Ok(RunAs {
        user,
        uid,
        gid,
        via,
    })
}
