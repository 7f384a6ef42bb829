//! `chop serve` configuration: built-in defaults, then an optional TOML file (`--config FILE`
//! or `CHOP_CONFIG`), then environment variables — each layer overriding the one before.
//! Every setting and its variable is listed in docs/API.md "Configuration".

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chop_archive::checkpoint::DEFAULT_ORIGIN;
use serde::Deserialize;

use crate::archive::ArchiveConfig;

/// Where, inside the data folder, the development root CA certificate is kept (written by the
/// registry's first-start bootstrap); when present it is a trust anchor of `POST /v1/verify`.
pub const DEV_ROOT_CERT: &str = "keys/root-ca.crt.pem";

/// The file, inside the data folder, holding the first admin API key (mode 0600).
pub const ADMIN_KEY_FILE: &str = "admin-api-key";

/// Why the configuration cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The TOML file cannot be read.
    #[error("cannot read the configuration file {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The TOML file is malformed or names an unknown setting.
    #[error("configuration file {}: {message}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// An environment variable or setting has an unusable value.
    #[error("{name}: {message}")]
    Invalid {
        /// The variable or setting.
        name: String,
        /// What is wrong.
        message: String,
    },
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Request limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Largest PDF upload (`POST /v1/verify`, `POST /v1/archive/ingest`), in bytes.
    pub max_pdf_bytes: usize,
    /// Largest JSON request body, in bytes.
    pub max_json_bytes: usize,
    /// How long a request may take before it is answered 503 (`timeout` problem).
    pub request_timeout: Duration,
    /// Public (unauthenticated) requests per second allowed per client address; 0 disables
    /// the limit.
    pub public_rate_per_second: u32,
    /// Burst of public requests allowed per client address.
    pub public_burst: u32,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_pdf_bytes: 50 * 1024 * 1024,
            max_json_bytes: 1024 * 1024,
            request_timeout: Duration::from_secs(60),
            public_rate_per_second: 20,
            public_burst: 50,
        }
    }
}

/// The server's configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Address to listen on (`127.0.0.1:0` picks a free port, printed at start).
    pub listen: SocketAddr,
    /// The URL clients reach the server at (links in responses); default `http://<listen>`.
    pub public_url: Option<String>,
    /// The data folder.
    pub data_dir: PathBuf,
    /// `postgres://…` or `sqlite:PATH`; `None`: `<data dir>/chop.db`.
    pub database_url: Option<String>,
    /// The log's origin line and key name.
    pub origin: String,
    /// Extra trust anchor files (PEM) for verification.
    pub trust_anchors: Vec<PathBuf>,
    /// A folder of extra licence types (`*.toml`) overlaying the shipped ones.
    pub templates_dir: Option<PathBuf>,
    /// Log format.
    pub log_format: LogFormat,
    /// Limits.
    pub limits: Limits,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            public_url: None,
            data_dir: PathBuf::from("chop-data"),
            database_url: None,
            origin: DEFAULT_ORIGIN.to_owned(),
            trust_anchors: Vec::new(),
            templates_dir: None,
            log_format: LogFormat::Text,
            limits: Limits::default(),
        }
    }
}

/// The TOML file: every key optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<String>,
    public_url: Option<String>,
    data_dir: Option<PathBuf>,
    database_url: Option<String>,
    origin: Option<String>,
    trust_anchors: Option<Vec<PathBuf>>,
    templates_dir: Option<PathBuf>,
    log_format: Option<LogFormat>,
    limits: Option<FileLimits>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileLimits {
    max_pdf_bytes: Option<usize>,
    max_json_bytes: Option<usize>,
    request_timeout_seconds: Option<u64>,
    public_rate_per_second: Option<u32>,
    public_burst: Option<u32>,
}

impl Config {
    /// Defaults ← `file` (TOML; paths in it are relative to its folder) ← the environment
    /// read through `env` (so tests can pass a map).
    pub fn load(
        file: Option<&Path>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let mut c = Config::default();
        if let Some(path) = file {
            let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                path: path.to_path_buf(),
                source,
            })?;
            let f: FileConfig = toml::from_str(&text).map_err(|e| ConfigError::Parse {
                path: path.to_path_buf(),
                message: e.to_string(),
            })?;
            let base = path.parent().unwrap_or(Path::new(""));
            c.apply_file(f, base)?;
        }
        c.apply_env(env)?;
        if c.limits.max_pdf_bytes == 0 || c.limits.max_json_bytes == 0 {
            return Err(invalid("limits", "body limits must be at least 1 byte"));
        }
        if c.limits.request_timeout.is_zero() {
            return Err(invalid(
                "limits.request_timeout_seconds",
                "must be at least 1",
            ));
        }
        if c.limits.public_rate_per_second > 0 && c.limits.public_burst == 0 {
            return Err(invalid("limits.public_burst", "must be at least 1"));
        }
        // The database URL is checked the way the archive will read it.
        c.archive_config()
            .location()
            .map_err(|e| invalid("CHOP_DATABASE_URL", e.to_string()))?;
        Ok(c)
    }

    fn apply_file(&mut self, f: FileConfig, base: &Path) -> Result<(), ConfigError> {
        if let Some(l) = f.listen {
            self.listen = parse_listen("listen", &l)?;
        }
        if let Some(u) = f.public_url {
            self.public_url = Some(check_url("public_url", &u)?);
        }
        if let Some(d) = f.data_dir {
            self.data_dir = base.join(d);
        }
        if let Some(u) = f.database_url {
            self.database_url = Some(u);
        }
        if let Some(o) = f.origin {
            self.origin = o;
        }
        if let Some(t) = f.trust_anchors {
            self.trust_anchors = t.into_iter().map(|p| base.join(p)).collect();
        }
        if let Some(t) = f.templates_dir {
            self.templates_dir = Some(base.join(t));
        }
        if let Some(lf) = f.log_format {
            self.log_format = lf;
        }
        if let Some(l) = f.limits {
            let lim = &mut self.limits;
            lim.max_pdf_bytes = l.max_pdf_bytes.unwrap_or(lim.max_pdf_bytes);
            lim.max_json_bytes = l.max_json_bytes.unwrap_or(lim.max_json_bytes);
            if let Some(s) = l.request_timeout_seconds {
                lim.request_timeout = Duration::from_secs(s);
            }
            lim.public_rate_per_second = l
                .public_rate_per_second
                .unwrap_or(lim.public_rate_per_second);
            lim.public_burst = l.public_burst.unwrap_or(lim.public_burst);
        }
        Ok(())
    }

    fn apply_env(&mut self, env: impl Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        let get = |name: &str| env(name).filter(|v| !v.is_empty());
        if let Some(l) = get("CHOP_LISTEN") {
            self.listen = parse_listen("CHOP_LISTEN", &l)?;
        }
        if let Some(u) = get("CHOP_PUBLIC_URL") {
            self.public_url = Some(check_url("CHOP_PUBLIC_URL", &u)?);
        }
        if let Some(d) = get("CHOP_DATA_DIR") {
            self.data_dir = PathBuf::from(d);
        }
        if let Some(u) = get("CHOP_DATABASE_URL") {
            self.database_url = Some(u);
        }
        if let Some(o) = get("CHOP_LOG_ORIGIN") {
            self.origin = o;
        }
        if let Some(t) = get("CHOP_TRUST_ANCHORS") {
            self.trust_anchors = std::env::split_paths(&t).collect();
        }
        if let Some(t) = get("CHOP_TEMPLATES_DIR") {
            self.templates_dir = Some(PathBuf::from(t));
        }
        if let Some(f) = get("CHOP_LOG_FORMAT") {
            self.log_format = match f.as_str() {
                "json" => LogFormat::Json,
                "text" => LogFormat::Text,
                _ => return Err(invalid("CHOP_LOG_FORMAT", "must be `text` or `json`")),
            };
        }
        let lim = &mut self.limits;
        if let Some(v) = get("CHOP_MAX_PDF_BYTES") {
            lim.max_pdf_bytes = number("CHOP_MAX_PDF_BYTES", &v)?;
        }
        if let Some(v) = get("CHOP_MAX_JSON_BYTES") {
            lim.max_json_bytes = number("CHOP_MAX_JSON_BYTES", &v)?;
        }
        if let Some(v) = get("CHOP_REQUEST_TIMEOUT_SECONDS") {
            lim.request_timeout = Duration::from_secs(number("CHOP_REQUEST_TIMEOUT_SECONDS", &v)?);
        }
        if let Some(v) = get("CHOP_PUBLIC_RATE_PER_SECOND") {
            lim.public_rate_per_second = number("CHOP_PUBLIC_RATE_PER_SECOND", &v)?;
        }
        if let Some(v) = get("CHOP_PUBLIC_BURST") {
            lim.public_burst = number("CHOP_PUBLIC_BURST", &v)?;
        }
        Ok(())
    }

    /// The archive this configuration names.
    pub fn archive_config(&self) -> ArchiveConfig {
        ArchiveConfig {
            data_dir: self.data_dir.clone(),
            database_url: self.database_url.clone(),
            origin: self.origin.clone(),
        }
    }

    /// The public URL without a trailing slash, given the address actually bound.
    pub fn public_url_for(&self, bound: SocketAddr) -> String {
        match &self.public_url {
            Some(u) => u.trim_end_matches('/').to_owned(),
            None => format!("http://{bound}"),
        }
    }
}

fn invalid(name: &str, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        name: name.to_owned(),
        message: message.into(),
    }
}

fn parse_listen(name: &str, value: &str) -> Result<SocketAddr, ConfigError> {
    value.parse().map_err(|_| {
        invalid(
            name,
            format!("{value:?} is not an address:port (e.g. 127.0.0.1:8080 or [::1]:8080)"),
        )
    })
}

fn check_url(name: &str, value: &str) -> Result<String, ConfigError> {
    if value.starts_with("http://") || value.starts_with("https://") {
        Ok(value.to_owned())
    } else {
        Err(invalid(
            name,
            format!("{value:?} is not an http:// or https:// URL"),
        ))
    }
}

fn number<T: std::str::FromStr>(name: &str, value: &str) -> Result<T, ConfigError> {
    value
        .trim()
        .parse()
        .map_err(|_| invalid(name, format!("{value:?} is not a whole number")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: std::collections::HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn defaults_without_file_or_environment() {
        let c = Config::load(None, env_of(&[])).unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(c.data_dir, PathBuf::from("chop-data"));
        assert_eq!(c.database_url, None);
        assert_eq!(c.limits.max_pdf_bytes, 50 * 1024 * 1024);
        assert_eq!(c.limits.max_json_bytes, 1024 * 1024);
        assert_eq!(c.public_url_for(c.listen), "http://127.0.0.1:8080");
    }

    #[test]
    fn environment_overrides_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("chop.toml");
        std::fs::write(
            &file,
            "listen = \"127.0.0.1:9000\"\ndata_dir = \"data\"\ntrust_anchors = [\"root.pem\"]\n\
             [limits]\nmax_json_bytes = 2048\npublic_rate_per_second = 0\n",
        )
        .unwrap();
        let c = Config::load(
            Some(&file),
            env_of(&[
                ("CHOP_LISTEN", "127.0.0.1:9001"),
                ("CHOP_PUBLIC_URL", "https://chop.example/"),
            ]),
        )
        .unwrap();
        assert_eq!(c.listen.port(), 9001);
        assert_eq!(c.data_dir, dir.path().join("data"));
        assert_eq!(c.trust_anchors, vec![dir.path().join("root.pem")]);
        assert_eq!(c.limits.max_json_bytes, 2048);
        assert_eq!(c.limits.public_rate_per_second, 0);
        assert_eq!(c.public_url_for(c.listen), "https://chop.example");
    }

    #[test]
    fn bad_values_name_the_setting() {
        let e = Config::load(None, env_of(&[("CHOP_LISTEN", "nowhere")])).unwrap_err();
        assert!(e.to_string().starts_with("CHOP_LISTEN:"), "{e}");
        let e = Config::load(None, env_of(&[("CHOP_DATABASE_URL", "mysql://x")])).unwrap_err();
        assert!(e.to_string().starts_with("CHOP_DATABASE_URL:"), "{e}");
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("chop.toml");
        std::fs::write(&file, "lisen = \"x\"\n").unwrap();
        let e = Config::load(Some(&file), env_of(&[])).unwrap_err();
        assert!(e.to_string().contains("lisen"), "{e}");
    }
}
