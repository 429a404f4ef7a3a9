//! Which version of a hub model a run uses, as pure logic (tested natively): `org/repo@REV`
//! parsing, the hub's `{hub}/{org}/{repo}/resolve/{rev}/` folders, cache keys that carry the
//! revision, and the manifest of revisions kept in storage (offline runs use the newest).

use serde::{Deserialize, Serialize};

/// The hub the app talks to unless the page says otherwise (`?hub=`, like `HF_ENDPOINT`).
pub const DEFAULT_HUB: &str = "https://huggingface.co";
/// The branch a repository id without `@REV` means.
pub const DEFAULT_REVISION: &str = "main";

/// A hub model as a link names it: `org/repo`, optionally pinned with `@REV` (branch, tag, commit).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HubModel {
    pub repo: String,
    pub revision: Option<String>,
}

fn is_name(s: &str) -> bool {
    !s.is_empty() && s != "." && s != ".." && s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

impl HubModel {
    /// `org/repo` or `org/repo@REV`; None for anything else (URLs, paths, empty pieces).
    pub fn parse(text: &str) -> Option<Self> {
        let text = text.trim();
        let (repo, revision) = match text.split_once('@') {
            Some((repo, rev)) => (repo, Some(rev.trim())),
            None => (text, None),
        };
        let (org, name) = repo.split_once('/')?;
        if !is_name(org) || !is_name(name) {
            return None;
        }
        if revision.is_some_and(|r| r.is_empty() || r.chars().any(|c| c.is_whitespace() || c == '?' || c == '#')) {
            return None;
        }
        Some(HubModel {
            repo: repo.to_string(),
            revision: revision.map(str::to_string),
        })
    }

    /// The folder its files resolve from on `hub` (a branch's `/` is escaped, as the hub wants).
    pub fn folder_url(&self, hub: &str) -> String {
        let rev = self.revision.as_deref().unwrap_or(DEFAULT_REVISION).replace('/', "%2F");
        format!("{}/{}/resolve/{rev}/", hub.trim_end_matches('/'), self.repo)
    }
}

/// Whether `rev` is a full commit id (40 hex digits): it can never change.
pub fn is_commit(rev: &str) -> bool {
    rev.len() == 40 && rev.chars().all(|c| c.is_ascii_hexdigit())
}

/// A file URL on a hub: `{hub}/{repo}/resolve/{rev}/{file}`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResolveUrl {
    pub hub: String,
    pub repo: String,
    pub revision: String,
    /// What follows the revision (a file name, or empty for the folder).
    pub file: String,
}

impl ResolveUrl {
    pub fn parse(url: &str) -> Option<Self> {
        let scheme_end = url.find("://")? + 3;
        let (before, after) = url.split_once("/resolve/")?;
        let (revision, file) = after.split_once('/')?;
        let path_start = scheme_end + before[scheme_end..].find('/')?;
        let (hub, repo) = before.split_at(path_start);
        let repo = repo.trim_start_matches('/');
        let model = HubModel::parse(repo)?;
        (!revision.is_empty()).then(|| ResolveUrl {
            hub: hub.to_string(),
            repo: model.repo,
            revision: revision.replace("%2F", "/"),
            file: file.to_string(),
        })
    }

    /// The same file at another revision.
    pub fn at(&self, revision: &str) -> String {
        let model = HubModel {
            repo: self.repo.clone(),
            revision: Some(revision.to_string()),
        };
        format!("{}{}", model.folder_url(&self.hub), self.file)
    }

    /// Names the repository in the manifest: the same repository on two hubs is two models.
    pub fn model_key(&self) -> String {
        format!("{}/{}", self.hub, self.repo)
    }
}

/// The revision an answer names: the hub's commit, else the ETag, else the modification time
/// with the length (None when the server says none of them).
pub fn revision_from_headers(
    repo_commit: Option<&str>,
    etag: Option<&str>,
    last_modified: Option<&str>,
    length: Option<u64>,
) -> Option<String> {
    let clean = |v: Option<&str>| v.map(str::trim).filter(|v| !v.is_empty()).map(str::to_string);
    clean(repo_commit)
        .or_else(|| clean(etag).map(|e| e.trim_start_matches("W/").trim_matches('"').to_string()))
        .or_else(|| clean(last_modified).map(|m| format!("{m} {}", length.unwrap_or(0))))
        .filter(|r| !r.is_empty())
}

/// The Cache Storage key of `what` (`file`, `header`, `bytes=a-b`) of `url` at `revision`.
/// A query, not a fragment: Cache Storage ignores fragments when matching.
pub fn cache_key(url: &str, revision: Option<&str>, what: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    match revision {
        Some(rev) => format!("{url}{sep}qk-rev={}&qk-{what}", encode(rev)),
        None => format!("{url}{sep}qk-{what}"),
    }
}

/// Splits a cache key into the file's URL, its revision and what the entry holds.
pub fn split_cache_key(key: &str) -> (String, Option<String>, String) {
    let Some((url, rest)) = key.split_once("?qk-").or_else(|| key.split_once("&qk-")) else {
        return (key.to_string(), None, String::new());
    };
    match rest.strip_prefix("rev=").and_then(|r| r.split_once("&qk-")) {
        Some((rev, what)) => (url.to_string(), Some(decode(rev)), what.to_string()),
        None => (url.to_string(), None, rest.to_string()),
    }
}

/// Percent-encodes everything but unreserved characters (ETags hold quotes, times spaces).
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = (bytes[i] == b'%' && i + 2 < bytes.len())
            .then(|| std::str::from_utf8(&bytes[i + 1..i + 3]).ok())
            .flatten()
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match hex {
            Some(b) => {
                out.push(b);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// One revision of a model kept in storage, and when it was last stored (ms since the epoch).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StoredRevision {
    pub revision: String,
    pub stored_at: f64,
}

/// Model (hub and repository) -> the revisions storage holds of it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub models: std::collections::BTreeMap<String, Vec<StoredRevision>>,
}

impl Manifest {
    /// Reads a stored manifest; a damaged one counts as empty (the pieces stay, only offline
    /// runs lose their pick until the next online run).
    pub fn from_json(text: &str) -> Self {
        serde_json::from_str(text).unwrap_or_default()
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a manifest serialises")
    }

    /// Notes that `revision` of `model` was stored at `now_ms`.
    pub fn record(&mut self, model: &str, revision: &str, now_ms: f64) {
        let list = self.models.entry(model.to_string()).or_default();
        match list.iter_mut().find(|r| r.revision == revision) {
            Some(r) => r.stored_at = r.stored_at.max(now_ms),
            None => list.push(StoredRevision {
                revision: revision.to_string(),
                stored_at: now_ms,
            }),
        }
    }

    /// The revision of `model` stored last.
    pub fn newest(&self, model: &str) -> Option<&StoredRevision> {
        self.models
            .get(model)?
            .iter()
            .max_by(|a, b| a.stored_at.total_cmp(&b.stored_at))
    }

    pub fn remove(&mut self, model: &str, revision: &str) {
        if let Some(list) = self.models.get_mut(model) {
            list.retain(|r| r.revision != revision);
            if list.is_empty() {
                self.models.remove(model);
            }
        }
    }
}

/// What a share link says for a model folder: `(hub, model)`, the hub only when it is not the
/// default, and the model as `org/repo@REV` with the commit the run used (else the folder's).
pub fn share_params(folder_url: &str, used_revision: Option<&str>) -> Option<(Option<String>, String)> {
    let r = ResolveUrl::parse(folder_url)?;
    let rev = used_revision.filter(|r| is_commit(r)).unwrap_or(&r.revision);
    let hub = (r.hub.trim_end_matches('/') != DEFAULT_HUB).then(|| r.hub.clone());
    Some((hub, format!("{}@{rev}", r.repo)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA: &str = "0123456789abcdef0123456789abcdef01234567";

    #[test]
    fn parses_repository_ids_with_and_without_revisions() {
        let m = HubModel::parse("qk/tiny").unwrap();
        assert_eq!((m.repo.as_str(), m.revision), ("qk/tiny", None));
        let m = HubModel::parse(&format!("qk/tiny@{SHA}")).unwrap();
        assert_eq!(m.revision.as_deref(), Some(SHA));
        assert_eq!(HubModel::parse("qk/tiny@v1.0").unwrap().revision.as_deref(), Some("v1.0"));
        for bad in [
            "",
            "qk",
            "qk/",
            "/qk/tiny",
            "qk/tiny/",
            "./a",
            "a/b/c",
            "http://x/y",
            "qk/tiny@",
            "qk/ti ny",
            "../x",
            "a/..",
        ] {
            assert_eq!(HubModel::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn builds_and_reads_resolve_urls() {
        let m = HubModel::parse("qk/tiny@refs/pr/1").unwrap();
        let folder = m.folder_url("http://127.0.0.1:9/");
        assert_eq!(folder, "http://127.0.0.1:9/qk/tiny/resolve/refs%2Fpr%2F1/");
        let r = ResolveUrl::parse(&format!("{folder}model.safetensors")).unwrap();
        assert_eq!(
            (r.hub.as_str(), r.repo.as_str(), r.revision.as_str()),
            ("http://127.0.0.1:9", "qk/tiny", "refs/pr/1")
        );
        assert_eq!(r.file, "model.safetensors");
        assert_eq!(
            r.at(SHA),
            format!("http://127.0.0.1:9/qk/tiny/resolve/{SHA}/model.safetensors")
        );
        assert_eq!(r.model_key(), "http://127.0.0.1:9/qk/tiny");
        assert_eq!(
            HubModel::parse("openai-community/gpt2").unwrap().folder_url(DEFAULT_HUB),
            "https://huggingface.co/openai-community/gpt2/resolve/main/"
        );
        assert_eq!(ResolveUrl::parse("http://127.0.0.1:9/models/tiny/model.safetensors"), None);
    }

    #[test]
    fn commits_are_forty_hex_digits() {
        assert!(is_commit(SHA));
        assert!(!is_commit("main"));
        assert!(!is_commit(&SHA[1..]));
        assert!(!is_commit(&format!("{}g", &SHA[1..])));
    }

    #[test]
    fn the_revision_prefers_the_commit_then_the_etag_then_the_time() {
        let r = |c, e, m, l| revision_from_headers(c, e, m, l);
        assert_eq!(r(Some(SHA), Some("\"e\""), None, None).as_deref(), Some(SHA));
        assert_eq!(r(None, Some("W/\"abc\""), Some("Mon"), Some(3)).as_deref(), Some("abc"));
        assert_eq!(r(None, None, Some("Mon, 1 Jan"), Some(3)).as_deref(), Some("Mon, 1 Jan 3"));
        assert_eq!(r(Some(" "), None, None, None), None);
    }

    #[test]
    fn cache_keys_carry_the_revision_and_split_back() {
        let url = "https://h/qk/tiny/resolve/main/model.safetensors";
        let key = cache_key(url, Some("\"a b\""), "bytes=0-8");
        assert_eq!(key, format!("{url}?qk-rev=%22a%20b%22&qk-bytes=0-8"));
        assert_eq!(
            split_cache_key(&key),
            (url.to_string(), Some("\"a b\"".to_string()), "bytes=0-8".to_string())
        );
        let old = cache_key(url, None, "file");
        assert_eq!(old, format!("{url}?qk-file"));
        assert_eq!(split_cache_key(&old), (url.to_string(), None, "file".to_string()));
        assert_eq!(
            cache_key("https://h/m?x=1", Some("r"), "header"),
            "https://h/m?x=1&qk-rev=r&qk-header"
        );
        assert_ne!(cache_key(url, Some("a"), "file"), cache_key(url, Some("b"), "file"));
    }

    #[test]
    fn the_manifest_picks_the_revision_stored_last() {
        let mut m = Manifest::default();
        assert!(m.newest("h/qk/tiny").is_none());
        m.record("h/qk/tiny", "a", 10.0);
        m.record("h/qk/tiny", "b", 20.0);
        m.record("h/other", "c", 30.0);
        assert_eq!(m.newest("h/qk/tiny").unwrap().revision, "b");
        m.record("h/qk/tiny", "a", 40.0);
        assert_eq!(m.newest("h/qk/tiny").unwrap().revision, "a");
        let back = Manifest::from_json(&m.to_json());
        assert_eq!(back, m);
        m.remove("h/qk/tiny", "a");
        assert_eq!(m.newest("h/qk/tiny").unwrap().revision, "b");
        m.remove("h/qk/tiny", "b");
        assert!(!m.models.contains_key("h/qk/tiny"));
        assert_eq!(Manifest::from_json("not json"), Manifest::default());
    }

    #[test]
    fn share_links_name_the_commit_used_and_the_hub_only_when_not_default() {
        let folder = "https://huggingface.co/openai-community/gpt2/resolve/main/";
        assert_eq!(
            share_params(folder, Some(SHA)),
            Some((None, format!("openai-community/gpt2@{SHA}")))
        );
        assert_eq!(
            share_params(folder, None),
            Some((None, "openai-community/gpt2@main".to_string()))
        );
        // An ETag is no revision the hub understands: the folder's branch stays.
        assert_eq!(
            share_params(folder, Some("etag")),
            Some((None, "openai-community/gpt2@main".to_string()))
        );
        let local = "http://127.0.0.1:9/qk/tiny/resolve/v1/";
        assert_eq!(
            share_params(local, None),
            Some((Some("http://127.0.0.1:9".to_string()), "qk/tiny@v1".to_string()))
        );
        assert_eq!(share_params("http://127.0.0.1:9/models/tiny/", None), None);
    }
}
