//! Our nine built-in Rego policies (`policies/*.rego`), written in the 2019 Gatekeeper v2 shape, with
//! the identity of the Azure definitions they stand for (docs/contracts.md §7).

/// One built-in policy file.
#[derive(Debug, Clone, Copy)]
pub struct BuiltinPolicy {
    /// File name under `policies/`, as azure-sim serves it.
    pub file: &'static str,
    /// Definition GUID.
    pub guid: &'static str,
    /// `details.policyId`.
    pub policy_id: &'static str,
    /// The user parameter (placeholder name), if the definition has one.
    pub parameter: Option<&'static str>,
    /// The Rego, with placeholders.
    pub source: &'static str,
}

macro_rules! builtin {
    ($file:literal, $guid:literal, $policy_id:literal, $parameter:expr) => {
        BuiltinPolicy {
            file: $file,
            guid: $guid,
            policy_id: $policy_id,
            parameter: $parameter,
            source: include_str!(concat!("../../policies/", $file)),
        }
    };
}

/// Each built-in by name, for catalogs that describe them further (azure-sim's ARM definitions).
pub const CONTAINER_ALLOWED_IMAGES: BuiltinPolicy = builtin!(
    "container-allowed-images.rego",
    "5f86cb6e-c4da-441b-807c-44bd0cc14e66",
    "ContainerAllowedImages",
    Some("allowedContainerImagesRegex")
);
pub const CONTAINER_ALLOWED_PORTS: BuiltinPolicy = builtin!(
    "container-allowed-ports.rego",
    "0f636243-1b1c-4d50-880f-310f6199f2cb",
    "ContainerAllowedPorts",
    Some("allowedContainerPortsRegex")
);
pub const CONTAINER_NO_PRIVILEGE: BuiltinPolicy =
    builtin!("container-no-privilege.rego", "7ce7ac02-a5c6-45d6-8d1b-844feb1c1531", "ContainerNoPrivilege", None);
pub const CONTAINER_RESOURCE_LIMITS: BuiltinPolicy =
    builtin!("container-resource-limits.rego", "a2d3ed81-8d11-4079-80a5-1faadc0024f4", "ContainerResourceLimits", None);
pub const INGRESS_HOSTNAMES_CONFLICT: BuiltinPolicy =
    builtin!("ingress-hostnames-conflict.rego", "d011d9f7-ba32-4005-b727-b3d09371ca60", "UniqueIngressHostnames", None);
pub const INGRESS_HTTPS_ONLY: BuiltinPolicy =
    builtin!("ingress-https-only.rego", "2fbff515-eecc-4b7e-9b63-fcc7138b7dc3", "HttpsIngressOnly", None);
pub const LOAD_BALANCER_NO_PUBLIC_IPS: BuiltinPolicy =
    builtin!("load-balancer-no-public-ips.rego", "a74d8f00-2fd9-4ce4-968e-0ee1eb821698", "LoadBalancersInternal", None);
pub const POD_ENFORCE_LABELS: BuiltinPolicy = builtin!(
    "pod-enforce-labels.rego",
    "16c6ca72-89d2-4798-b87e-496f9de7fcb7",
    "PodEnforceLabels",
    Some("commaSeparatedListOfLabels")
);
pub const SERVICE_ALLOWED_PORTS: BuiltinPolicy = builtin!(
    "service-allowed-ports.rego",
    "25dee3db-6ce0-4c02-ab5d-245887b24077",
    "ServiceAllowedPorts",
    Some("allowedServicePortsRegex")
);

/// The nine, in the order of the reference table.
pub const BUILTINS: [BuiltinPolicy; 9] = [
    CONTAINER_ALLOWED_IMAGES,
    CONTAINER_ALLOWED_PORTS,
    CONTAINER_NO_PRIVILEGE,
    CONTAINER_RESOURCE_LIMITS,
    INGRESS_HOSTNAMES_CONFLICT,
    INGRESS_HTTPS_ONLY,
    LOAD_BALANCER_NO_PUBLIC_IPS,
    POD_ENFORCE_LABELS,
    SERVICE_ALLOWED_PORTS,
];

/// The built-in with this file name.
pub fn by_file(file: &str) -> Option<&'static BuiltinPolicy> {
    BUILTINS.iter().find(|b| b.file == file)
}
