//! Differential test: our Gatekeeper v3 engine (regorus) against the real gator (OPA), over the
//! templates of `harness/policy-library/templates`.
//!
//! For every `<slug>/v<N>/` folder, the objects are the hand-made `samples/*.yaml` plus seeded random
//! objects (Pods, Services, Ingresses, a few ConfigMaps, Secrets, ServiceAccounts, and the Namespaces
//! they live in) built to reach the templates' branches: containers and init containers, images,
//! securityContexts, capabilities, ports, host ports, volumes and mounts, limits, sysctls,
//! seccomp/AppArmor/SELinux settings, labels, annotations, namespaces; some get a field replaced by a
//! value of another type. The constraints are the folder's `constraint*.yaml` plus copies of its
//! `constraint.yaml` with other enforcement actions (warn, dryrun, scoped to the gator point, to the
//! webhook only, to `*`) and other `spec.match` fields (namespaces, excludedNamespaces, labelSelector,
//! namespaceSelector, name, scope).
//!
//! One `gator test -f <dir> -o json` run per folder reviews every object against every constraint
//! (gator syncs every object it reads into `data.inventory`, so the engine side does the same). The
//! engine side is the library API: `PolicyClient::add_template/add_constraint`, the inventory, and
//! `review` at the gator enforcement point. Per object and constraint, the sets of
//! `(enforcementAction, msg)` must be equal (a scoped result of gator counts once per action in its
//! `scopedActions`), and an object that makes gator fail must make the engine fail too.
//!
//! One gator-test quirk is reproduced on the engine side rather than reported: `gator test` gives an
//! object without `metadata.namespace` an empty Namespace (`pkg/gator/expand` `NamespaceForResource`),
//! which `gator verify` and Gatekeeper do not.
//!
//! gator is found through `GATOR_BIN`, else `$HOME/.cache/aks-policy-harness/gator/v3.23.1/gator`
//! (`scripts/build-gator.sh` builds it). Without it the test prints a skip line and passes; it never
//! builds gator itself. `GATOR_DIFF_OBJECTS` (random objects per folder, default 150) and
//! `GATOR_DIFF_SEED` (default 20261206) change the run; disagreements are written in full to
//! `$CARGO_TARGET_TMPDIR/gator-differential/disagreements.txt`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use policy_engine::gatekeeper_v3::{Constraint, ConstraintTemplate, PolicyClient, Review, enforcement_point};
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use serde_json::{Map, Value, json};

const GATOR_VERSION: &str = "v3.23.1";
const DEFAULT_OBJECTS: usize = 150;
const DEFAULT_SEED: u64 = 20261206;
/// gator runs that fail on an object are retried without it at most this many times per folder.
const MAX_GATOR_RETRIES: usize = 100;

/// `(apiVersion, kind, namespace, name)`: unique within one folder's run.
type ObjectKey = (String, String, String, String);
/// constraint name → `(enforcementAction, msg)` results.
type Results = BTreeMap<String, BTreeSet<(String, String)>>;

/// What one engine said about one object.
#[derive(Debug, Clone, PartialEq)]
enum Outcome {
    Results(Results),
    Error(String),
}

struct Folder {
    slug: String,
    dir: PathBuf,
    template: PathBuf,
    constraints: Vec<PathBuf>,
    samples: Vec<PathBuf>,
}

fn gator_bin() -> Option<PathBuf> {
    if let Some(bin) = std::env::var_os("GATOR_BIN").filter(|b| !b.is_empty()) {
        return Some(PathBuf::from(bin)).filter(|p| p.is_file());
    }
    let cache = std::env::var_os("AKS_HARNESS_GATOR_CACHE").map(PathBuf::from).or_else(|| {
        std::env::var_os("XDG_CACHE_HOME")
            .filter(|x| !x.is_empty())
            .map(|x| PathBuf::from(x).join("aks-policy-harness/gator"))
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/aks-policy-harness/gator")))
    })?;
    Some(cache.join(GATOR_VERSION).join("gator")).filter(|p| p.is_file())
}

fn env_number(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(v) if !v.is_empty() => v.parse().unwrap_or_else(|_| panic!("{name}={v:?} is not a number")),
        _ => default,
    }
}

fn folders() -> Vec<Folder> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../policy-library/templates");
    let mut out = Vec::new();
    for slug in sorted_entries(&root) {
        if !slug.is_dir() {
            continue;
        }
        for version in sorted_entries(&slug) {
            let template = version.join("template.yaml");
            if !template.is_file() {
                continue;
            }
            let files = sorted_entries(&version);
            let constraints: Vec<PathBuf> = files
                .iter()
                .filter(|p| {
                    let name = p.file_name().unwrap().to_string_lossy();
                    name.starts_with("constraint") && name.ends_with(".yaml")
                })
                .cloned()
                .collect();
            let samples: Vec<PathBuf> = sorted_entries(&version.join("samples"))
                .into_iter()
                .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml" || e == "json"))
                .collect();
            let slug_name = slug.file_name().unwrap().to_string_lossy().into_owned();
            let version_name = version.file_name().unwrap().to_string_lossy().into_owned();
            out.push(Folder {
                slug: format!("{slug_name}/{version_name}"),
                dir: version.clone(),
                template,
                constraints,
                samples,
            });
        }
    }
    out
}

fn sorted_entries(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(rd) => rd.map(|e| e.unwrap().path()).collect(),
        Err(_) => Vec::new(),
    };
    v.sort();
    v
}

fn yaml_documents(path: &Path) -> Vec<Value> {
    use serde::Deserialize;
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    let mut docs = Vec::new();
    for doc in serde_yaml::Deserializer::from_str(&text) {
        let v = Value::deserialize(doc).unwrap_or_else(|e| panic!("parse {}: {e}", path.display()));
        if !v.is_null() {
            docs.push(v);
        }
    }
    docs
}

/// The kinds the folder's main constraint matches (to bias the random mix towards them).
fn matched_kinds(folder: &Folder) -> Vec<String> {
    let main = folder.dir.join("constraint.yaml");
    let mut kinds = BTreeSet::new();
    for doc in yaml_documents(&main) {
        for entry in doc["spec"]["match"]["kinds"].as_array().into_iter().flatten() {
            for k in entry["kinds"].as_array().into_iter().flatten() {
                if let Some(k) = k.as_str() {
                    kinds.insert(k.to_string());
                }
            }
        }
    }
    kinds.into_iter().collect()
}

fn key_of(obj: &Value) -> ObjectKey {
    let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
    (text(&obj["apiVersion"]), text(&obj["kind"]), text(&obj["metadata"]["namespace"]), text(&obj["metadata"]["name"]))
}

/// Gives an object a new name when another object of the folder already has its key, so results
/// can be told apart (gator keys its output by the violating object).
fn make_unique(obj: &mut Value, taken: &mut BTreeSet<ObjectKey>) {
    let base = obj["metadata"]["name"].as_str().unwrap_or("unnamed").to_string();
    let mut n = 1;
    while taken.contains(&key_of(obj)) {
        obj["metadata"]["name"] = Value::String(format!("{base}-dup{n}"));
        n += 1;
    }
    taken.insert(key_of(obj));
}

// ---------------------------------------------------------------------------------------------
// Random objects
// ---------------------------------------------------------------------------------------------

struct Gen {
    rng: StdRng,
}

const IMAGES: &[&str] = &[
    "myregistry.azurecr.io/app:1.0",
    "myregistry.azurecr.io/web",
    "myregistry.azurecr.io.evil.example/app:1",
    "other.azurecr.io/team/api:2",
    "exempt.azurecr.io/tools/debug:1",
    "exempt.azurecr.io/toolsx/debug:1",
    "docker.io/library/busybox:1.36",
    "docker.io/library/busybox:1.35",
    "nginx",
    "nginx:1.25",
    "ghcr.io/org/app@sha256:0123abcd",
    "",
];
const CONTAINER_NAMES: &[&str] = &["app", "sidecar", "istio-init", "legacy-sidecar", "init", "web", "db", "proxy"];
const CAPS: &[&str] =
    &["NET_BIND_SERVICE", "CHOWN", "SYS_ADMIN", "NET_ADMIN", "NET_RAW", "ALL", "all", "KILL", "SYS_TIME"];
const DROP_CAPS: &[&str] = &["NET_RAW", "ALL", "all", "KILL", "CHOWN", "SYS_ADMIN"];
const NAMESPACES: &[&str] = &["default", "apps", "team-a", "kube-system", "prod"];
const SECCOMP_ANNOTATION_VALUES: &[&str] =
    &["runtime/default", "docker/default", "unconfined", "localhost/profile.json", ""];
const APPARMOR_VALUES: &[&str] = &["runtime/default", "unconfined", "localhost/k8s-apparmor", ""];
const CPU_LIMITS: &[&str] = &["100m", "500m", "501m", "0.5", "0.6", "1", "2", "1000m", "1.5", "abc", "", "200m", "0.2"];
const MEMORY_LIMITS: &[&str] =
    &["128Mi", "1Gi", "1025Mi", "1G", "2Gi", "512M", "1e9", "abc", "", "1024Mi", "1073741824", "1Ti", "900k"];
const HOST_PATHS: &[&str] = &[
    "/var/log",
    "/var/log/pods",
    "/var/logs",
    "/data",
    "/data/",
    "/data/app",
    "/etc",
    "/",
    "/C:/logs",
    "/C:/logs/app",
    "/var/lib/kubelet",
    "",
];
const SYSCTLS: &[&str] = &[
    "kernel.msgmax",
    "kernel.msgmnb",
    "kernel.shm_rmid_forced",
    "net.core.somaxconn",
    "net.core.somaxconn2",
    "net.ipv4.ip_local_port_range",
];
const SELINUX_TYPES: &[&str] =
    &["container_t", "container_init_t", "svirt_sandbox_file_t", "spc_t", "container_kvm_t", ""];
const HOSTS: &[&str] = &["web.example.com", "shop.example.com", "api.example.com", "*.example.com"];

impl Gen {
    fn chance(&mut self, p: f64) -> bool {
        self.rng.random_bool(p)
    }

    fn pick<'a>(&mut self, from: &'a [&'a str]) -> &'a str {
        from.choose(&mut self.rng).unwrap()
    }

    fn subset(&mut self, from: &[&str], max: usize) -> Vec<Value> {
        let n = self.rng.random_range(0..=max.min(from.len()));
        let mut pool: Vec<&str> = from.to_vec();
        let mut out = Vec::new();
        for _ in 0..n {
            let i = self.rng.random_range(0..pool.len());
            out.push(Value::String(pool.remove(i).to_string()));
        }
        out
    }

    fn boolish(&mut self) -> Value {
        match self.rng.random_range(0..10) {
            0 => Value::String("true".into()),
            1..=4 => Value::Bool(true),
            _ => Value::Bool(false),
        }
    }

    fn metadata(&mut self, name: String, namespaced: bool) -> Value {
        let mut meta = Map::new();
        meta.insert("name".into(), Value::String(name));
        if namespaced && !self.chance(0.12) {
            meta.insert("namespace".into(), Value::String(self.pick(NAMESPACES).to_string()));
        }
        if self.chance(0.5) {
            let mut labels = Map::new();
            for l in self.subset(&["app", "owner", "team", "tier"], 3) {
                let value = ["web", "alice", "", "x"].choose(&mut self.rng).unwrap().to_string();
                labels.insert(l.as_str().unwrap().to_string(), Value::String(value));
            }
            meta.insert("labels".into(), Value::Object(labels));
        }
        Value::Object(meta)
    }

    fn security_context(&mut self) -> Value {
        let mut sc = Map::new();
        if self.chance(0.3) {
            sc.insert("privileged".into(), self.boolish());
        }
        if self.chance(0.4) {
            sc.insert("allowPrivilegeEscalation".into(), self.boolish());
        }
        if self.chance(0.4) {
            sc.insert("readOnlyRootFilesystem".into(), self.boolish());
        }
        if self.chance(0.3) {
            sc.insert("runAsUser".into(), self.id());
        }
        if self.chance(0.25) {
            sc.insert("runAsGroup".into(), self.id());
        }
        if self.chance(0.25) {
            sc.insert("runAsNonRoot".into(), self.boolish());
        }
        if self.chance(0.2) {
            let pm = self.pick(&["Default", "Unmasked", "default", "unmasked", "Masked"]);
            sc.insert("procMount".into(), Value::String(pm.into()));
        }
        if self.chance(0.45) {
            let mut caps = Map::new();
            if self.chance(0.7) {
                caps.insert("add".into(), Value::Array(self.subset(CAPS, 3)));
            }
            if self.chance(0.7) {
                caps.insert("drop".into(), Value::Array(self.subset(DROP_CAPS, 3)));
            }
            sc.insert("capabilities".into(), Value::Object(caps));
        }
        if self.chance(0.2) {
            sc.insert("seccompProfile".into(), self.profile(&["RuntimeDefault", "Localhost", "Unconfined"]));
        }
        if self.chance(0.2) {
            sc.insert("appArmorProfile".into(), self.profile(&["RuntimeDefault", "Localhost", "Unconfined"]));
        }
        if self.chance(0.25) {
            sc.insert("seLinuxOptions".into(), self.selinux());
        }
        Value::Object(sc)
    }

    fn id(&mut self) -> Value {
        let v = *[0i64, 1000, 1500, 1999, 2000, 2500, 3000, 3999, 4000, 150, 65534].choose(&mut self.rng).unwrap();
        Value::from(v)
    }

    fn profile(&mut self, types: &[&str]) -> Value {
        let t = self.pick(types);
        if t == "Localhost" && self.chance(0.7) {
            json!({"type": t, "localhostProfile": "profile.json"})
        } else {
            json!({"type": t})
        }
    }

    fn selinux(&mut self) -> Value {
        let mut o = Map::new();
        if self.chance(0.7) {
            o.insert("type".into(), Value::String(self.pick(SELINUX_TYPES).into()));
        }
        if self.chance(0.35) {
            o.insert("level".into(), Value::String(self.pick(&["s0:c123,c456", "s0:c1,c2", ""]).into()));
        }
        if self.chance(0.3) {
            o.insert("role".into(), Value::String(self.pick(&["object_r", "sysadm_r", ""]).into()));
        }
        if self.chance(0.3) {
            o.insert("user".into(), Value::String(self.pick(&["system_u", "user_u", ""]).into()));
        }
        Value::Object(o)
    }

    fn container(&mut self, name: &str, volume_names: &[String]) -> Value {
        let mut c = Map::new();
        c.insert("name".into(), Value::String(name.into()));
        if !self.chance(0.05) {
            c.insert("image".into(), Value::String(self.pick(IMAGES).into()));
        }
        if self.chance(0.7) {
            c.insert("securityContext".into(), self.security_context());
        }
        if self.chance(0.4) {
            let n = self.rng.random_range(1..=2);
            let mut ports = Vec::new();
            for _ in 0..n {
                let mut p = Map::new();
                let cp: Value = match self.rng.random_range(0..12) {
                    0 => Value::String("443".into()),
                    _ => Value::from(*[80i64, 443, 8080, 8443, 22, 9000].choose(&mut self.rng).unwrap()),
                };
                p.insert("containerPort".into(), cp);
                if self.chance(0.4) {
                    let hp = *[80i64, 443, 8000, 8500, 9000, 9001, 22, 0].choose(&mut self.rng).unwrap();
                    p.insert("hostPort".into(), Value::from(hp));
                }
                if self.chance(0.3) {
                    p.insert("protocol".into(), Value::String(self.pick(&["TCP", "UDP"]).into()));
                }
                ports.push(Value::Object(p));
            }
            c.insert("ports".into(), Value::Array(ports));
        }
        if self.chance(0.65) {
            let mut limits = Map::new();
            if self.chance(0.8) {
                let v = match self.rng.random_range(0..10) {
                    0 => json!(1),
                    1 => json!(0.25),
                    _ => Value::String(self.pick(CPU_LIMITS).into()),
                };
                limits.insert("cpu".into(), v);
            }
            if self.chance(0.8) {
                let v = match self.rng.random_range(0..12) {
                    0 => json!(1073741824),
                    _ => Value::String(self.pick(MEMORY_LIMITS).into()),
                };
                limits.insert("memory".into(), v);
            }
            c.insert("resources".into(), json!({"limits": limits}));
        }
        if !volume_names.is_empty() && self.chance(0.6) {
            let mut mounts = Vec::new();
            for v in volume_names {
                if self.chance(0.6) {
                    let mut m = Map::new();
                    m.insert("name".into(), Value::String(v.clone()));
                    m.insert("mountPath".into(), Value::String(format!("/mnt/{v}")));
                    if self.chance(0.6) {
                        m.insert("readOnly".into(), self.boolish());
                    }
                    mounts.push(Value::Object(m));
                }
            }
            c.insert("volumeMounts".into(), Value::Array(mounts));
        }
        Value::Object(c)
    }

    fn volumes(&mut self) -> Vec<Value> {
        let n = self.rng.random_range(0..=3);
        let mut out = Vec::new();
        for i in 0..n {
            let name = format!("vol{i}");
            let v = match self.rng.random_range(0..9) {
                0..=2 => {
                    let mut hp = Map::new();
                    hp.insert("path".into(), Value::String(self.pick(HOST_PATHS).into()));
                    if self.chance(0.3) {
                        hp.insert("type".into(), Value::String("Directory".into()));
                    }
                    json!({"name": name, "hostPath": hp})
                }
                3 => json!({"name": name, "emptyDir": {}}),
                4 => json!({"name": name, "configMap": {"name": "cfg"}}),
                5 => json!({"name": name, "secret": {"secretName": "s"}}),
                6 => {
                    let driver = self.pick(&["example.com/lvm", "example.com/other", ""]);
                    json!({"name": name, "flexVolume": {"driver": driver}})
                }
                7 => json!({"name": name, "persistentVolumeClaim": {"claimName": "pvc"}}),
                _ => json!({"name": name, "projected": {"sources": []}}),
            };
            out.push(v);
        }
        out
    }

    fn pod(&mut self, name: String) -> Value {
        let mut meta = self.metadata(name, true);
        let volumes = self.volumes();
        let volume_names: Vec<String> = volumes.iter().map(|v| v["name"].as_str().unwrap().to_string()).collect();
        let mut names: Vec<&str> = CONTAINER_NAMES.to_vec();
        let mut take_name = |g: &mut Gen| names.remove(g.rng.random_range(0..names.len())).to_string();
        let mut spec = Map::new();
        let n = self.rng.random_range(1..=3);
        let containers: Vec<Value> = (0..n)
            .map(|_| {
                let name = take_name(self);
                self.container(&name, &volume_names)
            })
            .collect();
        spec.insert("containers".into(), Value::Array(containers.clone()));
        let mut all_names: Vec<String> = containers.iter().map(|c| c["name"].as_str().unwrap().to_string()).collect();
        if self.chance(0.35) {
            let n = self.rng.random_range(0..=2);
            let inits: Vec<Value> = (0..n)
                .map(|_| {
                    let name = take_name(self);
                    self.container(&name, &volume_names)
                })
                .collect();
            all_names.extend(inits.iter().map(|c| c["name"].as_str().unwrap().to_string()));
            spec.insert("initContainers".into(), Value::Array(inits));
        }
        if !volumes.is_empty() {
            spec.insert("volumes".into(), Value::Array(volumes));
        }
        for key in ["hostPID", "hostIPC", "hostNetwork"] {
            if self.chance(0.2) {
                spec.insert(key.into(), self.boolish());
            }
        }
        if self.chance(0.5) {
            spec.insert("automountServiceAccountToken".into(), self.boolish());
        }
        if self.chance(0.15) {
            spec.insert("os".into(), json!({"name": self.pick(&["windows", "linux"])}));
        }
        if self.chance(0.15) {
            spec.insert("nodeSelector".into(), json!({"kubernetes.io/os": self.pick(&["windows", "linux"])}));
        }
        if self.chance(0.55) {
            let mut psc = Map::new();
            if self.chance(0.35) {
                psc.insert("runAsUser".into(), self.id());
            }
            if self.chance(0.3) {
                psc.insert("runAsGroup".into(), self.id());
            }
            if self.chance(0.3) {
                psc.insert("runAsNonRoot".into(), self.boolish());
            }
            if self.chance(0.3) {
                psc.insert("fsGroup".into(), self.id());
            }
            if self.chance(0.3) {
                let n = self.rng.random_range(0..=3);
                let groups: Vec<Value> = (0..n).map(|_| self.id()).collect();
                psc.insert("supplementalGroups".into(), Value::Array(groups));
            }
            if self.chance(0.3) {
                let sysctls: Vec<Value> =
                    self.subset(SYSCTLS, 3).into_iter().map(|name| json!({"name": name, "value": "1"})).collect();
                psc.insert("sysctls".into(), Value::Array(sysctls));
            }
            if self.chance(0.25) {
                psc.insert("seccompProfile".into(), self.profile(&["RuntimeDefault", "Localhost", "Unconfined"]));
            }
            if self.chance(0.25) {
                psc.insert("seLinuxOptions".into(), self.selinux());
            }
            spec.insert("securityContext".into(), Value::Object(psc));
        }
        if self.chance(0.5) {
            let mut ann = Map::new();
            if self.chance(0.4) {
                let v = self.pick(SECCOMP_ANNOTATION_VALUES);
                ann.insert("seccomp.security.alpha.kubernetes.io/pod".into(), Value::String(v.into()));
            }
            for c in &all_names {
                if self.chance(0.3) {
                    let v = self.pick(SECCOMP_ANNOTATION_VALUES);
                    ann.insert(format!("container.seccomp.security.alpha.kubernetes.io/{c}"), Value::String(v.into()));
                }
                if self.chance(0.35) {
                    let v = self.pick(APPARMOR_VALUES);
                    ann.insert(format!("container.apparmor.security.beta.kubernetes.io/{c}"), Value::String(v.into()));
                }
            }
            meta["annotations"] = Value::Object(ann);
        }
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec})
    }

    fn service(&mut self, name: String) -> Value {
        let name = if self.chance(0.08) { "kubernetes".to_string() } else { name };
        let mut meta = self.metadata(name, true);
        if self.chance(0.4) {
            let v = self.pick(&["true", "false", "True"]);
            meta["annotations"] = json!({"service.beta.kubernetes.io/azure-load-balancer-internal": v});
        }
        let mut spec = Map::new();
        if self.chance(0.85) {
            let t = self.pick(&["ClusterIP", "NodePort", "LoadBalancer", "LoadBalancer", "ExternalName"]);
            spec.insert("type".into(), Value::String(t.into()));
        }
        if self.chance(0.35) {
            spec.insert(
                "externalIPs".into(),
                Value::Array(self.subset(&["203.0.113.10", "203.0.113.11", "198.51.100.7"], 2)),
            );
        }
        if self.chance(0.85) {
            let n = self.rng.random_range(0..=3);
            let ports: Vec<Value> = (0..n)
                .map(|_| {
                    let port: Value = match self.rng.random_range(0..12) {
                        0 => Value::String("443".into()),
                        _ => Value::from(*[80i64, 443, 8080, 22, 8443].choose(&mut self.rng).unwrap()),
                    };
                    let mut p = Map::new();
                    p.insert("port".into(), port);
                    if self.chance(0.5) {
                        p.insert("targetPort".into(), json!(*[80i64, 8080, 443].choose(&mut self.rng).unwrap()));
                    }
                    Value::Object(p)
                })
                .collect();
            spec.insert("ports".into(), Value::Array(ports));
        }
        json!({"apiVersion": "v1", "kind": "Service", "metadata": meta, "spec": spec})
    }

    fn ingress(&mut self, name: String) -> Value {
        let api = self.pick(&["networking.k8s.io/v1", "extensions/v1beta1", "networking.k8s.io/v1beta1"]);
        let mut meta = self.metadata(name, true);
        if self.chance(0.5) {
            let v = self.pick(&["false", "true", "False"]);
            meta["annotations"] = json!({"kubernetes.io/ingress.allow-http": v});
        }
        let mut spec = Map::new();
        match self.rng.random_range(0..4) {
            0 => {}
            1 => {
                spec.insert("tls".into(), json!([]));
            }
            _ => {
                spec.insert("tls".into(), json!([{"hosts": [self.pick(HOSTS)], "secretName": "tls"}]));
            }
        }
        if self.chance(0.9) {
            let n = self.rng.random_range(0..=2);
            let rules: Vec<Value> =
                (0..n)
                    .map(|_| {
                        if self.chance(0.85) {
                            json!({"host": self.pick(HOSTS)})
                        } else {
                            json!({"http": {"paths": []}})
                        }
                    })
                    .collect();
            spec.insert("rules".into(), Value::Array(rules));
        }
        json!({"apiVersion": api, "kind": "Ingress", "metadata": meta, "spec": spec})
    }

    fn other(&mut self, name: String) -> Value {
        match self.rng.random_range(0..3) {
            0 => {
                json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": self.metadata(name, true), "data": {"k": "v"}})
            }
            1 => {
                let mut meta = self.metadata(name, true);
                let mut secret = json!({"apiVersion": "v1", "kind": "Secret", "type": "Opaque", "data": {}});
                if self.chance(0.5) {
                    secret["type"] = json!("kubernetes.io/service-account-token");
                    let sa = self.pick(&["default", "builder"]);
                    meta["annotations"] = json!({"kubernetes.io/service-account.name": sa});
                }
                secret["metadata"] = meta;
                secret
            }
            _ => {
                let name = if self.chance(0.5) { "default".to_string() } else { name };
                json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": self.metadata(name, true)})
            }
        }
    }

    /// One random object, `kinds` (the folder's matched kinds) most of the time. Some objects get
    /// one or two fields replaced by a value of another type (null, a number, a string, a list, a
    /// map), where OPA and regorus are most likely to part (builtin errors, type checks).
    fn object(&mut self, i: usize, kinds: &[String]) -> Value {
        let name = format!("obj-{i}");
        let kind = if !kinds.is_empty() && self.chance(0.85) {
            kinds.choose(&mut self.rng).unwrap().clone()
        } else {
            self.pick(&["Pod", "Pod", "Service", "Ingress", "ConfigMap"]).to_string()
        };
        let mut obj = match kind.as_str() {
            "Pod" => self.pod(name),
            "Service" => self.service(name),
            "Ingress" => self.ingress(name),
            _ => self.other(name),
        };
        if self.chance(0.15) {
            for _ in 0..self.rng.random_range(1..=2) {
                self.mutate(&mut obj);
            }
        }
        obj
    }

    /// Replaces one field (not apiVersion, kind, name or namespace) by a value of another type.
    fn mutate(&mut self, obj: &mut Value) {
        fn paths(v: &Value, prefix: &mut Vec<Value>, out: &mut Vec<Vec<Value>>) {
            match v {
                Value::Object(m) => {
                    for (k, child) in m {
                        prefix.push(Value::String(k.clone()));
                        out.push(prefix.clone());
                        paths(child, prefix, out);
                        prefix.pop();
                    }
                }
                Value::Array(a) => {
                    for (i, child) in a.iter().enumerate() {
                        prefix.push(Value::from(i));
                        out.push(prefix.clone());
                        paths(child, prefix, out);
                        prefix.pop();
                    }
                }
                _ => {}
            }
        }
        let mut all = Vec::new();
        paths(obj, &mut Vec::new(), &mut all);
        let protected = |p: &[Value]| {
            let first = p.first().and_then(Value::as_str).unwrap_or_default();
            let second = p.get(1).and_then(Value::as_str).unwrap_or_default();
            first == "apiVersion"
                || first == "kind"
                || (first == "metadata" && (p.len() == 1 || second == "name" || second == "namespace"))
        };
        all.retain(|p| !protected(p));
        let Some(path) = all.choose(&mut self.rng).cloned() else { return };
        let odd = match self.rng.random_range(0..7) {
            0 => Value::Null,
            1 => json!(42),
            2 => json!(-1.5),
            3 => json!("x"),
            4 => json!(true),
            5 => json!([]),
            _ => json!({}),
        };
        let mut target = obj;
        for step in &path {
            target = match step {
                Value::String(k) => &mut target[k.as_str()],
                _ => &mut target[step.as_u64().unwrap() as usize],
            };
        }
        *target = odd;
    }
}

fn seed_for(seed: u64, slug: &str) -> u64 {
    // FNV-1a of the slug, mixed with the seed: stable across runs and platforms.
    let mut h: u64 = 0xcbf29ce484222325;
    for b in slug.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x100000001b3);
    }
    h ^ seed
}

/// The objects of one folder: its samples (renamed only on a key collision), then random ones.
fn objects_for(folder: &Folder, count: usize, seed: u64) -> Vec<(String, Value)> {
    let mut taken = BTreeSet::new();
    let mut out = Vec::new();
    for sample in &folder.samples {
        let stem = sample.file_name().unwrap().to_string_lossy().into_owned();
        for (i, mut doc) in yaml_documents(sample).into_iter().enumerate() {
            if !doc.is_object() || doc.get("kind").is_none() {
                continue;
            }
            if !doc["metadata"].is_object() {
                doc["metadata"] = json!({});
            }
            if doc["metadata"]["name"].as_str().is_none_or(str::is_empty) {
                doc["metadata"]["name"] = Value::String(format!("sample-{}", stem.trim_end_matches(".yaml")));
            }
            make_unique(&mut doc, &mut taken);
            out.push((format!("samples/{stem}#{i}"), doc));
        }
    }
    let kinds = matched_kinds(folder);
    let mut g = Gen { rng: StdRng::seed_from_u64(seed_for(seed, &folder.slug)) };
    // The Namespaces of the random objects, for namespaceSelector (gator finds them among its inputs,
    // the engine in its inventory).
    for ns in NAMESPACES {
        let mut labels = Map::new();
        labels.insert("kubernetes.io/metadata.name".into(), Value::String(ns.to_string()));
        labels.insert("env".into(), Value::String(g.pick(&["prod", "dev"]).into()));
        let mut obj = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns, "labels": labels}});
        make_unique(&mut obj, &mut taken);
        out.push((format!("namespace {ns}"), obj));
    }
    for i in 0..count {
        let mut obj = g.object(i, &kinds);
        make_unique(&mut obj, &mut taken);
        out.push((format!("random #{i}"), obj));
    }
    out
}

// ---------------------------------------------------------------------------------------------
// gator side
// ---------------------------------------------------------------------------------------------

/// Copies of the folder's main constraint with other enforcement actions and other `spec.match`
/// fields, so both sides also agree on which constraints act at the gator enforcement point, with
/// which actions, and on what they select.
fn constraint_variants(folder: &Folder) -> Vec<Value> {
    let Some(main) = yaml_documents(&folder.dir.join("constraint.yaml")).into_iter().next() else {
        return Vec::new();
    };
    let kinds = main["spec"]["match"]["kinds"].clone();
    let scoped = |entries: Value| json!({"enforcementAction": "scoped", "scopedEnforcementActions": entries});
    let point = |action: &str, points: &[&str]| json!({"action": action, "enforcementPoints": points.iter().map(|p| json!({"name": p})).collect::<Vec<_>>()});
    let variants: Vec<(&str, Value, Value)> = vec![
        ("warn", json!({"enforcementAction": "warn"}), json!({})),
        ("dryrun", json!({"enforcementAction": "dryrun"}), json!({})),
        (
            "scoped",
            scoped(json!([point("warn", &["gator.gatekeeper.sh"]), point("deny", &["validation.gatekeeper.sh"])])),
            json!({}),
        ),
        ("scoped-webhook", scoped(json!([point("deny", &["validation.gatekeeper.sh"])])), json!({})),
        (
            "scoped-star",
            scoped(json!([point("warn", &["*"]), point("dryrun", &["gator.gatekeeper.sh", "audit.gatekeeper.sh"])])),
            json!({}),
        ),
        ("ns", json!({}), json!({"namespaces": ["apps", "team-*", "default"], "excludedNamespaces": ["kube-*"]})),
        (
            "labels",
            json!({}),
            json!({"labelSelector": {"matchLabels": {"app": "web"}, "matchExpressions": [{"key": "tier", "operator": "DoesNotExist"}]}}),
        ),
        (
            "labels-in",
            json!({}),
            json!({"labelSelector": {"matchExpressions": [{"key": "owner", "operator": "In", "values": ["alice", ""]}, {"key": "team", "operator": "NotIn", "values": ["x"]}]}}),
        ),
        ("nssel", json!({}), json!({"namespaceSelector": {"matchLabels": {"env": "prod"}}})),
        ("name", json!({}), json!({"name": "obj-1*"})),
        ("scope", json!({}), json!({"scope": "Namespaced"})),
    ];
    let base = main["metadata"]["name"].as_str().unwrap_or("constraint").to_string();
    variants
        .into_iter()
        .map(|(suffix, spec_extra, match_extra)| {
            let mut c = main.clone();
            c["metadata"] = json!({"name": format!("{base}-{suffix}")});
            for (k, v) in spec_extra.as_object().unwrap() {
                c["spec"][k] = v.clone();
            }
            let mut m = json!({"kinds": kinds});
            for (k, v) in match_extra.as_object().unwrap() {
                m[k] = v.clone();
            }
            c["spec"]["match"] = m;
            c
        })
        .collect()
}

fn write_run_dir(dir: &Path, folder: &Folder, objects: &[(String, Value)]) {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).unwrap();
    std::fs::copy(&folder.template, dir.join("template.yaml")).unwrap();
    for c in &folder.constraints {
        std::fs::copy(c, dir.join(c.file_name().unwrap())).unwrap();
    }
    let mut variants = String::new();
    for c in constraint_variants(folder) {
        variants.push_str("---\n");
        variants.push_str(&serde_yaml::to_string(&c).unwrap());
    }
    std::fs::write(dir.join("constraint-variants.yaml"), variants).unwrap();
    let mut text = String::new();
    for (_, obj) in objects {
        text.push_str("---\n");
        text.push_str(&serde_yaml::to_string(obj).unwrap());
    }
    std::fs::write(dir.join("objects.yaml"), text).unwrap();
}

/// Runs gator over the folder's objects. An object gator fails on is recorded as an error and the
/// run is repeated without it (gator stops at the first failing review).
fn gator_side(
    gator: &Path,
    run_dir: &Path,
    folder: &Folder,
    objects: &[(String, Value)],
) -> BTreeMap<ObjectKey, Outcome> {
    let mut remaining: Vec<(String, Value)> = objects.to_vec();
    let mut outcomes = BTreeMap::new();
    for _attempt in 0..=MAX_GATOR_RETRIES {
        write_run_dir(run_dir, folder, &remaining);
        let out = Command::new(gator)
            .arg("test")
            .arg("-f")
            .arg(run_dir)
            .arg("-o")
            .arg("json")
            .output()
            .unwrap_or_else(|e| panic!("run {}: {e}", gator.display()));
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        let parsed: Option<Value> = serde_json::from_str(stdout.trim()).ok();
        match parsed {
            Some(results) if out.status.code().is_some_and(|c| c <= 1) && !stderr.contains("reviewing ") => {
                for (_, obj) in &remaining {
                    outcomes.insert(key_of(obj), Outcome::Results(Results::new()));
                }
                for r in results.as_array().into_iter().flatten() {
                    let obj = &r["violatingObject"];
                    let key = key_of(obj);
                    let constraint = r["constraint"]["metadata"]["name"].as_str().unwrap_or_default().to_string();
                    let msg = r["msg"].as_str().unwrap_or_default().to_string();
                    // A scoped constraint gives one result with its actions at this point in
                    // `scopedActions`; the engine gives one violation per action.
                    let actions: Vec<String> = match r["enforcementAction"].as_str().unwrap_or_default() {
                        "scoped" => r["scopedActions"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .filter_map(|a| a.as_str().map(str::to_string))
                            .collect(),
                        other => vec![other.to_string()],
                    };
                    match outcomes.get_mut(&key) {
                        Some(Outcome::Results(res)) => {
                            let set = res.entry(constraint).or_default();
                            for action in actions {
                                set.insert((action, msg.clone()));
                            }
                        }
                        _ => panic!("{}: gator reported an object it was not given: {key:?}", folder.slug),
                    }
                }
                return outcomes;
            }
            _ => {
                // `reviewing <gvk> <ns>/<name>: <error>`: find the object and drop it.
                let culprit = remaining.iter().position(|(_, obj)| {
                    let (_, _, ns, name) = key_of(obj);
                    stderr.contains(&format!(" {ns}/{name}: "))
                });
                let Some(i) = culprit else {
                    panic!(
                        "{}: gator test failed (exit {:?}) and names no object:\nstderr: {stderr}\nstdout: {}",
                        folder.slug,
                        out.status.code(),
                        &stdout[..stdout.len().min(2000)]
                    );
                };
                let (_, obj) = remaining.remove(i);
                outcomes.insert(key_of(&obj), Outcome::Error(stderr.trim().to_string()));
            }
        }
    }
    panic!("{}: gator failed on more than {MAX_GATOR_RETRIES} objects", folder.slug);
}

// ---------------------------------------------------------------------------------------------
// engine side
// ---------------------------------------------------------------------------------------------

/// The engine over the same run directory gator read last (template, constraints and variants).
fn engine_side(run_dir: &Path, folder: &Folder, objects: &[(String, Value)]) -> BTreeMap<ObjectKey, Outcome> {
    let mut client = PolicyClient::new();
    let template = ConstraintTemplate::from_file(&run_dir.join("template.yaml"))
        .unwrap_or_else(|e| panic!("{}: our engine rejects the template: {e}", folder.slug));
    client.add_template(template).unwrap_or_else(|e| panic!("{}: our engine rejects the template: {e}", folder.slug));
    let constraint_files: Vec<PathBuf> = sorted_entries(run_dir)
        .into_iter()
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with("constraint"))
        .collect();
    for path in &constraint_files {
        for c in Constraint::from_file(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())) {
            client
                .add_constraint(c)
                .unwrap_or_else(|e| panic!("{}: our engine rejects the constraint: {e}", path.display()));
        }
    }
    // gator syncs every object it reads into data.inventory, the reviewed ones included.
    for (source, obj) in objects {
        client
            .inventory_mut()
            .upsert(obj.clone(), source)
            .unwrap_or_else(|e| panic!("{}: {source}: inventory: {e}", folder.slug));
    }
    let mut outcomes = BTreeMap::new();
    for (source, obj) in objects {
        let outcome = match Review::from_object(obj.clone(), source).and_then(|mut review| {
            // `gator test` (not `gator verify`) gives an object without metadata.namespace an empty
            // Namespace (pkg/gator/expand NamespaceForResource), so for `spec.match` it is a
            // namespaced object in the namespace "" (namespaces lists and namespaceSelector never
            // select it, scope Namespaced does).
            if review.resource.namespace.is_none() && !review.is_namespace() {
                review.namespace_object =
                    Some(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ""}}));
            }
            client.review(&review, enforcement_point::GATOR)
        }) {
            Ok(violations) => {
                let mut res = Results::new();
                for v in violations {
                    res.entry(v.constraint).or_default().insert((v.enforcement_action, v.msg));
                }
                Outcome::Results(res)
            }
            Err(e) => Outcome::Error(e.to_string()),
        };
        outcomes.insert(key_of(obj), outcome);
    }
    outcomes
}

fn same(gator: &Outcome, ours: &Outcome) -> bool {
    match (gator, ours) {
        (Outcome::Error(_), Outcome::Error(_)) => true,
        (Outcome::Results(a), Outcome::Results(b)) => {
            // A constraint with no result and one with an empty set are the same.
            let nonempty = |r: &Results| {
                r.iter().filter(|(_, s)| !s.is_empty()).map(|(k, s)| (k.clone(), s.clone())).collect::<Results>()
            };
            nonempty(a) == nonempty(b)
        }
        _ => false,
    }
}

fn result_count(outcome: &Outcome) -> usize {
    match outcome {
        Outcome::Results(r) => r.values().map(BTreeSet::len).sum(),
        Outcome::Error(_) => 0,
    }
}

fn describe(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Error(e) => format!("  error: {e}\n"),
        Outcome::Results(r) if r.values().all(BTreeSet::is_empty) => "  (no violations)\n".to_string(),
        Outcome::Results(r) => {
            let mut s = String::new();
            for (constraint, set) in r {
                for (action, msg) in set {
                    let _ = writeln!(s, "  {constraint} [{action}]: {msg}");
                }
            }
            s
        }
    }
}

#[test]
fn our_engine_agrees_with_gator_on_random_and_sample_objects() {
    let Some(gator) = gator_bin() else {
        println!("skipped: gator not found; run scripts/build-gator.sh (needs Go), or set GATOR_BIN");
        return;
    };
    let count = env_number("GATOR_DIFF_OBJECTS", DEFAULT_OBJECTS as u64) as usize;
    let seed = env_number("GATOR_DIFF_SEED", DEFAULT_SEED);
    let work = Path::new(env!("CARGO_TARGET_TMPDIR")).join("gator-differential");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).unwrap();

    let folders = folders();
    assert_eq!(folders.len(), policy_library::all().len(), "every template folder of harness/policy-library/templates");
    let (mut total, mut agree, mut gator_errors, mut with_violations) = (0usize, 0usize, 0usize, 0usize);
    let (mut gator_results, mut engine_results) = (0usize, 0usize);
    let mut report = String::new();
    let mut disagreeing_folders = BTreeSet::new();
    for folder in &folders {
        let objects = objects_for(folder, count, seed);
        let run_dir = work.join(folder.slug.replace('/', "-"));
        let theirs = gator_side(&gator, &run_dir, folder, &objects);
        let ours = engine_side(&run_dir, folder, &objects);
        for (source, obj) in &objects {
            let key = key_of(obj);
            let g = &theirs[&key];
            let o = &ours[&key];
            total += 1;
            gator_results += result_count(g);
            engine_results += result_count(o);
            if matches!(g, Outcome::Error(_)) {
                gator_errors += 1;
            }
            if matches!(g, Outcome::Results(r) if r.values().any(|s| !s.is_empty())) {
                with_violations += 1;
            }
            if same(g, o) {
                agree += 1;
            } else {
                disagreeing_folders.insert(folder.slug.clone());
                let _ = write!(
                    report,
                    "=== {} {} ({}/{} {}/{})\ngator:\n{}ours:\n{}object:\n{}\n",
                    folder.slug,
                    source,
                    key.0,
                    key.1,
                    key.2,
                    key.3,
                    describe(g),
                    describe(o),
                    serde_yaml::to_string(obj).unwrap()
                );
            }
        }
    }
    let disagree = total - agree;
    let report_path = work.join("disagreements.txt");
    std::fs::write(&report_path, &report).unwrap();
    println!(
        "differential: templates={} objects={total} agree={agree} disagree={disagree} (objects with violations: {with_violations}, results gator/engine: {gator_results}/{engine_results}, gator errors: {gator_errors}, seed {seed}, {count} random objects per template)",
        folders.len()
    );
    if disagree > 0 {
        let head: String = report.lines().take(120).collect::<Vec<_>>().join("\n");
        panic!(
            "our engine and gator {GATOR_VERSION} disagree on {disagree} of {total} objects in {:?}; all of them in {}\n{head}",
            disagreeing_folders,
            report_path.display()
        );
    }
    // The run must have exercised something: most folders produce violations on random objects.
    assert!(
        with_violations * 4 > total,
        "too few objects with violations ({with_violations} of {total}): the generator misses the templates"
    );
}

#[test]
fn the_comparison_tells_results_apart() {
    let results = |entries: &[(&str, &str, &str)]| {
        let mut r = Results::new();
        for (constraint, action, msg) in entries {
            r.entry(constraint.to_string()).or_default().insert((action.to_string(), msg.to_string()));
        }
        Outcome::Results(r)
    };
    let base = results(&[("c", "deny", "m1"), ("c", "deny", "m2")]);
    assert!(same(&base, &results(&[("c", "deny", "m2"), ("c", "deny", "m1")])));
    assert!(same(&results(&[]), &Outcome::Results(BTreeMap::from([("c".to_string(), BTreeSet::new())]))));
    assert!(!same(&base, &results(&[("c", "deny", "m1")])), "a missing message");
    assert!(!same(&base, &results(&[("c", "deny", "m1"), ("c", "deny", "m2 ")])), "a changed message");
    assert!(!same(&base, &results(&[("c", "warn", "m1"), ("c", "deny", "m2")])), "another action");
    assert!(!same(&base, &results(&[("d", "deny", "m1"), ("c", "deny", "m2")])), "another constraint");
    assert!(!same(&base, &Outcome::Error("x".into())), "an error");
    assert!(same(&Outcome::Error("a".into()), &Outcome::Error("b".into())));
}

#[test]
fn random_objects_are_deterministic_and_unique() {
    let folders = folders();
    let folder =
        folders.iter().find(|f| f.slug.starts_with("container-no-privilege/")).expect("container-no-privilege folder");
    let a = objects_for(folder, 40, 7);
    let b = objects_for(folder, 40, 7);
    assert_eq!(a, b, "same seed, same objects");
    assert_ne!(a, objects_for(folder, 40, 8), "another seed, other objects");
    let keys: BTreeSet<ObjectKey> = a.iter().map(|(_, o)| key_of(o)).collect();
    assert_eq!(keys.len(), a.len(), "object keys are unique within a folder");
    assert!(a.iter().any(|(_, o)| o["kind"] == "Pod" && o["spec"]["initContainers"].is_array()));
}
