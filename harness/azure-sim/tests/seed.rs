//! The seed's command sequence, as the raw ARM calls `az` makes, over real HTTPS with a client that
//! trusts only the simulator's CA. Every response shape along the way is snapshotted.

mod common;

use azure_sim::SimConfig;
use common::*;
use serde_json::json;

#[tokio::test]
async fn seed_sequence_succeeds_in_order() {
    // Manual approval, as in the 2019 limited preview.
    let w = world_with(SimConfig::default()).await;
    let sub = w.sub.clone();
    let anon = w.arm.with_token(None);

    // 0. `az cloud register` + `az login --service-principal` (`--tenant adfs` is resolved first).
    let meta = anon.get("/metadata/endpoints?api-version=2022-09-01").await;
    snap("metadata_endpoints", &meta, &w);
    let tenant = anon.get("/adfs/adfs/v2.0/.well-known/openid-configuration").await;
    snap("openid_configuration_tenant", &tenant, &w);
    let openid = anon.get("/adfs/.well-known/openid-configuration").await;
    snap("openid_configuration", &openid, &w);
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", w.creds.client_id.as_str()),
        ("client_secret", w.creds.client_secret.as_str()),
        ("scope", "https://management.azuresim.local//.default"),
    ];
    let token = post_form(&w.arm.http, &format!("{}/adfs/oauth2/token", w.arm.base), &form).await;
    snap("adfs_token", &token, &w);
    let arm = w.arm.with_token(Some(token.body["access_token"].as_str().unwrap().to_string()));
    snap("subscriptions_list", &arm.get("/subscriptions").await, &w);
    snap("tenants_list", &arm.get("/tenants").await, &w);

    // 1. provider register ×2.
    let p = arm.post(&format!("/subscriptions/{sub}/providers/{CONTAINER_SERVICE}/register")).await;
    snap("provider_register", &p, &w);
    assert_eq!(arm.post(&format!("/subscriptions/{sub}/providers/{POLICY_INSIGHTS}/register")).await.status, 200);

    // 2. feature register ×2 → Pending, then approval.
    let f = arm.post(&format!("/subscriptions/{sub}/providers/Microsoft.Features/providers/{CONTAINER_SERVICE}/features/AKS-AzurePolicyAutoApprove/register")).await;
    assert_eq!(f.body["properties"]["state"], "Pending");
    snap("feature_register_pending", &f, &w);
    // The docs spelled this one two ways: names are case-insensitive.
    let f2 = arm.post(&format!("/subscriptions/{sub}/providers/Microsoft.Features/providers/{POLICY_INSIGHTS}/features/AKS-DataPlaneAutoApprove/register")).await;
    assert_eq!(f2.body["name"], "Microsoft.PolicyInsights/AKS-DataplaneAutoApprove");
    for (ns, name) in [(CONTAINER_SERVICE, "AKS-AzurePolicyAutoApprove"), (POLICY_INSIGHTS, "aks-dataplaneautoapprove")]
    {
        let a = anon
            .post_json("/admin/features/approve", json!({"subscriptionId": sub, "namespace": ns, "name": name}))
            .await;
        assert_eq!(a.status, 200, "{:?}", a.body);
    }
    let shown = arm.get(&format!("/subscriptions/{sub}/providers/Microsoft.Features/providers/{CONTAINER_SERVICE}/features/AKS-AzurePolicyAutoApprove")).await;
    assert_eq!(shown.body["properties"]["state"], "Registered");
    snap("feature_show_registered", &shown, &w);
    snap("feature_list", &arm.get(&format!("/subscriptions/{sub}/providers/Microsoft.Features/features")).await, &w);

    // 3. provider re-register.
    for ns in [CONTAINER_SERVICE, POLICY_INSIGHTS] {
        assert_eq!(arm.post(&format!("/subscriptions/{sub}/providers/{ns}/register")).await.status, 200);
    }
    let shown = arm.get(&format!("/subscriptions/{sub}/providers/{CONTAINER_SERVICE}")).await;
    assert_eq!(shown.body["registrationState"], "Registered");
    snap("provider_show", &shown, &w);

    // A cluster to enable the add-on on.
    let rg = arm.put(&format!("/subscriptions/{sub}/resourcegroups/rg1"), json!({"location": "westus2"})).await;
    assert_eq!(rg.status, 201);
    snap("resource_group_put", &rg, &w);
    let cluster_path =
        format!("/subscriptions/{sub}/resourceGroups/rg1/providers/Microsoft.ContainerService/managedClusters/aks1");
    let created = arm
        .put(
            &cluster_path,
            json!({"location": "westus2", "properties": {"kubernetesVersion": "1.14.8", "dnsPrefix": "aks1"}}),
        )
        .await;
    assert_eq!(created.status, 201);
    assert_eq!(created.body["properties"]["provisioningState"], "Creating");
    snap("managed_cluster_create", &created, &w);
    let op = arm.poll(created.header("azure-asyncoperation").unwrap()).await;
    assert_eq!(op.body["status"], "Succeeded");
    snap("lro_status_succeeded", &op, &w);

    // 4. enable-addons: GET, PUT with azurepolicy.enabled=true (SP profile nulled), poll.
    let mut cluster = arm.get(&cluster_path).await;
    assert_eq!(cluster.body["properties"]["servicePrincipalProfile"]["clientId"], "msi");
    snap("managed_cluster_get", &cluster, &w);
    cluster.body["properties"]["addonProfiles"]["azurepolicy"] = json!({"enabled": true});
    cluster.body["properties"]["servicePrincipalProfile"] = json!(null);
    cluster.body["properties"]["aadProfile"] = json!(null);
    let enabling = arm.put(&cluster_path, cluster.body.clone()).await;
    assert_eq!(enabling.status, 200, "{:?}", enabling.body);
    assert_eq!(enabling.body["properties"]["provisioningState"], "Updating");
    snap("managed_cluster_enable_addon", &enabling, &w);
    let op = arm.poll(enabling.header("azure-asyncoperation").unwrap()).await;
    assert_eq!(op.body["status"], "Succeeded");
    let cluster = arm.get(&cluster_path).await;
    assert_eq!(cluster.body["properties"]["addonProfiles"]["azurepolicy"]["enabled"], true);
    assert_eq!(
        cluster.body["properties"]["servicePrincipalProfile"]["clientId"], "msi",
        "a null SP profile keeps the stored one"
    );
    let cluster_id = cluster.body["id"].as_str().unwrap().to_string();
    assert_eq!(w.controller.calls(), vec![format!("install {cluster_id}")]);
    snap(
        "managed_cluster_list",
        &arm.get(&format!("/subscriptions/{sub}/providers/Microsoft.ContainerService/managedClusters")).await,
        &w,
    );

    // 5. assignment of a built-in at the cluster's scope.
    snap(
        "policy_definition_builtin",
        &arm.get(&format!("/providers/Microsoft.Authorization/policyDefinitions/{IMAGES_GUID}")).await,
        &w,
    );
    let assignment = arm
        .put(
            &format!("{cluster_id}/providers/Microsoft.Authorization/policyAssignments/images"),
            json!({"properties": {"enforcementMode": "Default", "policyDefinitionId": format!("/providers/Microsoft.Authorization/policyDefinitions/{IMAGES_GUID}"),
                   "parameters": {"allowedContainerImagesRegex": {"value": "^.+azurecr.io/.+$"}}}}),
        )
        .await;
    assert_eq!(assignment.status, 201, "{:?}", assignment.body);
    snap("policy_assignment_put", &assignment, &w);
    let assignment_id = assignment.body["id"].as_str().unwrap().to_string();

    // The add-on fetches its assignments and reports, with the credentials it was installed with.
    let install = w.controller.installs.lock().unwrap()[0].clone();
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", install.client_id.as_str()),
        ("client_secret", install.client_secret.as_str()),
        ("resource", "https://management.azuresim.local/"),
    ];
    let addon_token = post_form(&w.arm.http, &format!("{}/adfs/oauth2/token", install.dataplane_endpoint), &form).await;
    let addon = w.arm.with_token(Some(addon_token.body["access_token"].as_str().unwrap().to_string()));
    let listed = addon.get(&format!("/dataplane/v1/assignments?clusterId={}", common::urlencode(&cluster_id))).await;
    assert_eq!(listed.body["assignments"][0]["parameters"]["allowedContainerImagesRegex"], "^.+azurecr.io/.+$");
    snap("dataplane_assignments", &listed, &w);
    let report = json!({"reportId": "11111111-1111-4111-8111-111111111111", "clusterId": cluster_id, "cycle": 1, "generatedAt": "2019-06-01T00:00:00Z",
        "assignments": [{"assignmentId": assignment_id, "complianceState": "NonCompliant",
            "violations": [{"kind": "pods", "namespace": "default", "name": "nginx", "message": "The operation was disallowed by policy", "source": "audit"}]}]});
    let posted = addon.post_json("/dataplane/v1/reports", report).await;
    assert_eq!(posted.body["duplicate"], false);
    snap("dataplane_report", &posted, &w);

    // 6. queryResults (and summarize, triggerEvaluation).
    let states =
        arm.post(&format!("{cluster_id}/providers/Microsoft.PolicyInsights/policyStates/latest/queryResults")).await;
    assert_eq!(states.body["@odata.count"], 1);
    assert_eq!(states.body["value"][0]["complianceState"], "NonCompliant");
    snap("policy_states_query_results", &states, &w);
    snap(
        "policy_states_summarize",
        &arm.post(&format!("/subscriptions/{sub}/providers/Microsoft.PolicyInsights/policyStates/latest/summarize"))
            .await,
        &w,
    );
    let trigger = arm
        .post(&format!("/subscriptions/{sub}/providers/Microsoft.PolicyInsights/policyStates/latest/triggerEvaluation"))
        .await;
    assert_eq!(trigger.status, 202);
    snap("trigger_evaluation_accepted", &trigger, &w);
    let done = arm.poll(trigger.header("location").unwrap()).await;
    assert_eq!(done.status, 200);
    assert!(w.controller.calls().contains(&format!("scan {cluster_id}")));

    // 7. disable-addons.
    let mut cluster = arm.get(&cluster_path).await;
    cluster.body["properties"]["addonProfiles"]["azurepolicy"] = json!({"enabled": false, "config": null});
    cluster.body["properties"]["servicePrincipalProfile"] = json!(null);
    let disabling = arm.put(&cluster_path, cluster.body).await;
    assert_eq!(disabling.status, 200);
    let op = arm.poll(disabling.header("azure-asyncoperation").unwrap()).await;
    assert_eq!(op.body["status"], "Succeeded");
    assert_eq!(w.controller.calls().last().unwrap(), &format!("uninstall {cluster_id}"));
    let cluster = arm.get(&cluster_path).await;
    assert_eq!(cluster.body["properties"]["addonProfiles"]["azurepolicy"]["enabled"], false);
    snap("managed_cluster_addon_disabled", &cluster, &w);
    // With the add-on gone the dataplane no longer serves this cluster.
    assert_eq!(
        addon.get(&format!("/dataplane/v1/assignments?clusterId={}", common::urlencode(&cluster_id))).await.status,
        404
    );

    // Clean-up shapes: assignment and cluster delete.
    snap("policy_assignment_delete", &arm.delete(&assignment_id).await, &w);
    let deleting = arm.delete(&cluster_path).await;
    assert_eq!(deleting.status, 202);
    snap("managed_cluster_delete_accepted", &deleting, &w);
    assert_eq!(arm.poll(deleting.header("location").unwrap()).await.status, 204);
    assert_eq!(arm.get(&cluster_path).await.code(), "ResourceNotFound");
    w.sim.shutdown().await;
}

/// `az login -u/-p` (ADAL password grant) and its refresh, as a user of the default subscription.
#[tokio::test]
async fn user_login_with_password_and_refresh_token() {
    let w = world().await;
    let default = w.sim.default_credentials();
    let url = format!("{}/adfs/oauth2/token", w.arm.base);
    let login = [
        ("grant_type", "password"),
        ("client_id", "04b07795-8ddb-461a-bbee-02f9e1bf7b46"),
        ("username", "Admin@AzureSim.local"),
        ("password", default.client_secret.as_str()),
        ("resource", "https://management.azuresim.local/"),
    ];
    let token = post_form(&w.arm.http, &url, &login).await;
    assert_eq!(token.status, 200, "{:?}", token.body);
    let refresh = token.body["refresh_token"].as_str().expect("user logins get a refresh token").to_string();
    let refreshed =
        post_form(&w.arm.http, &url, &[("grant_type", "refresh_token"), ("refresh_token", refresh.as_str())]).await;
    let user = w.arm.with_token(Some(refreshed.body["access_token"].as_str().unwrap().to_string()));
    let subs = user.get("/subscriptions").await;
    assert_eq!(subs.body["value"][0]["subscriptionId"], default.subscription_id.as_str());
    assert_eq!(
        user.get(&format!("/subscriptions/{}/resourcegroups", w.sub)).await.status,
        403,
        "users see only their subscriptions"
    );
    // A refresh token is not an access token, and a wrong password is an OAuth error.
    assert_eq!(w.arm.with_token(Some(refresh)).get("/subscriptions").await.status, 401);
    let wrong = [("grant_type", "password"), ("username", "admin@azuresim.local"), ("password", "nope")];
    assert_eq!(post_form(&w.arm.http, &url, &wrong).await.body["error"], "invalid_grant");
}

/// `az cloud register --endpoint-resource-manager https://host:port/` (trailing slash, as documented)
/// asks for `//metadata/endpoints`; repeated slashes are collapsed before routing.
#[tokio::test]
async fn cloud_register_with_a_trailing_slash_finds_the_metadata() {
    let w = world().await;
    let anon = w.arm.with_token(None);
    let meta = anon.get("//metadata/endpoints?api-version=2022-09-01").await;
    assert_eq!(meta.status, 200, "{:?}", meta.body);
    assert_eq!(meta.body["authentication"]["loginEndpoint"], format!("{}/adfs", w.arm.base));
    assert_eq!(anon.get("/adfs//adfs/v2.0/.well-known/openid-configuration").await.status, 200);
    assert_eq!(w.arm.get(&format!("//subscriptions/{}?api-version=2022-12-01", w.sub)).await.status, 200);
}

/// Current `az login --tenant <name>` resolves a tenant that is not a GUID with
/// `GET {loginEndpoint}/{tenant}/v2.0/.well-known/openid-configuration`, aborts on anything but 200,
/// and takes the tenant id from `issuer.split("/")[3]`.
#[tokio::test]
async fn login_resolves_the_tenant_by_name_or_guid() {
    let w = world().await;
    let anon = w.arm.with_token(None);
    let tenant = w.sim.tenant_id();
    let upper = tenant.to_uppercase();
    for name in ["adfs", "ADFS", tenant.as_str(), upper.as_str()] {
        let r = anon.get(&format!("/adfs/{name}/v2.0/.well-known/openid-configuration")).await;
        assert_eq!(r.status, 200, "{name}: {:?}", r.body);
        let issuer = r.body["issuer"].as_str().expect("issuer");
        assert_eq!(issuer.split('/').nth(3), Some(tenant.as_str()), "{name}: {issuer}");
        assert_eq!(r.body["token_endpoint"], format!("{}/adfs/oauth2/token", w.arm.base));
    }
    let unknown = anon.get("/adfs/contoso.onmicrosoft.com/v2.0/.well-known/openid-configuration").await;
    assert_eq!((unknown.status, unknown.body["error"].as_str()), (400, Some("invalid_tenant")), "{:?}", unknown.body);
    assert!(
        unknown.body["error_description"]
            .as_str()
            .unwrap()
            .starts_with("AADSTS90002: Tenant 'contoso.onmicrosoft.com' not found.")
    );
    // The tenant-less document MSAL reads for the `/adfs` authority is unchanged.
    assert_eq!(anon.get("/adfs/.well-known/openid-configuration").await.body["issuer"], format!("{}/adfs", w.arm.base));
}

/// The CLI polls every `Retry-After` seconds and waits 30 s without it, so every response that
/// leaves an operation running says `Retry-After: 1`: the cluster PUT's 201 and 200, `InProgress`
/// status documents, 202s; finished status documents need none.
#[tokio::test]
async fn running_operations_tell_pollers_to_come_back_in_one_second() {
    let w = world().await;
    w.opt_in().await;
    w.cluster("rg", "c", false).await;
    let cluster_path = |name: &str| {
        format!(
            "/subscriptions/{}/resourceGroups/rg/providers/Microsoft.ContainerService/managedClusters/{name}",
            w.sub
        )
    };
    let path = cluster_path("c");
    let retry_after = |r: &Resp| r.header("retry-after").map(str::to_string);
    let one = Some("1".to_string());

    // A create (201) whose install is still running.
    *w.controller.install_delay.lock().unwrap() = std::time::Duration::from_millis(1500);
    let body = json!({"location": "westus2", "properties": {"addonProfiles": {"azurepolicy": {"enabled": true}}}});
    let created = w.arm.put(&cluster_path("d"), body.clone()).await;
    assert_eq!((created.status, retry_after(&created)), (201, one.clone()), "{:?}", created.body);
    let status_url = created.header("azure-asyncoperation").unwrap().to_string();
    let running = w.arm.get(&status_url).await;
    assert_eq!(running.body["status"], "InProgress", "the install takes 1.5 s");
    assert_eq!(retry_after(&running), one);
    let done = w.arm.poll(&status_url).await;
    assert_eq!((done.body["status"].as_str(), retry_after(&done)), (Some("Succeeded"), None));

    // An update (200): enable-addons on the existing cluster.
    let enabling = w.arm.put(&path, body).await;
    assert_eq!((enabling.status, retry_after(&enabling)), (200, one.clone()), "{:?}", enabling.body);
    let running = w.arm.get(enabling.header("azure-asyncoperation").unwrap()).await;
    assert_eq!((running.body["status"].as_str(), retry_after(&running)), (Some("InProgress"), one.clone()));
    w.arm.poll(enabling.header("azure-asyncoperation").unwrap()).await;

    // A delete (202) whose uninstall is still running: Location and status document both say 1.
    *w.controller.uninstall_delay.lock().unwrap() = std::time::Duration::from_millis(1500);
    let deleting = w.arm.delete(&path).await;
    assert_eq!((deleting.status, retry_after(&deleting)), (202, one.clone()));
    let result = w.arm.get(deleting.header("location").unwrap()).await;
    assert_eq!((result.status, retry_after(&result)), (202, one.clone()));
    let running = w.arm.get(deleting.header("azure-asyncoperation").unwrap()).await;
    assert_eq!((running.body["status"].as_str(), retry_after(&running)), (Some("InProgress"), one));
    assert_eq!(w.arm.poll(deleting.header("location").unwrap()).await.status, 204);
}

/// `az aks create` (current CLI) sends empty strings for what it leaves to the service, such as
/// `"kubernetesVersion": ""`; AKS reads them as "the default", so enable-addons works afterwards.
#[tokio::test]
async fn aks_create_empty_strings_mean_the_defaults() {
    let w = world().await;
    w.opt_in().await;
    let body = json!({"location": "westus2", "identity": {"type": "SystemAssigned"}, "properties": {
        "kubernetesVersion": "", "dnsPrefix": "", "enableRBAC": true,
        "agentPoolProfiles": [{"name": "nodepool1", "count": 3, "vmSize": "", "orchestratorVersion": "", "mode": "System"}]}});
    assert_eq!(
        w.arm.put(&format!("/subscriptions/{}/resourcegroups/rg", w.sub), json!({"location": "westus2"})).await.status,
        201
    );
    let op = w.put_cluster("rg", "d", body).await;
    assert_eq!(op.body["status"], "Succeeded", "{:?}", op.body);
    let path =
        format!("/subscriptions/{}/resourceGroups/rg/providers/Microsoft.ContainerService/managedClusters/d", w.sub);
    let mut cluster = w.arm.get(&path).await;
    assert_eq!(cluster.body["properties"]["kubernetesVersion"], "1.14.8");
    assert_eq!(cluster.body["properties"]["dnsPrefix"], "d-dns");
    cluster.body["properties"]["addonProfiles"] = json!({"azurepolicy": {"enabled": true}});
    let op = w.put_cluster("rg", "d", cluster.body).await;
    assert_eq!(op.body["status"], "Succeeded", "{:?}", op.body);
}
