"""SwiftorProvider against httpx.MockTransport: every route, every error shape, and a parser fuzz."""

from __future__ import annotations

import json

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from vmtui.core.errors import (
    AuthError,
    BadRequest,
    BadResponse,
    NotFound,
    ProviderError,
    QuotaExceeded,
    RateLimited,
    Unavailable,
    Unsupported,
)
from vmtui.core.models import VmConfig, VmState
from vmtui.core.swiftor_plans import PLANS, normalise_plan
from vmtui.providers.swiftor import PortMapping, SwiftorProvider

TOKEN = "eyJ.secret-token.sig"
VM_ID = "1aa62e52-e61c-4ae3-9ac2-c9cb1f46d25f"
DOC_VM = {
    "id": VM_ID,
    "vmlabel": "NewVM",
    "region": "AU",
    "os": {"distribution": "ubuntu", "desktop": "xfce"},
    "specs": {"cpu": 2, "ram": 4, "storage": True},
    "enabled": False,
}


class Recorder:
    """A MockTransport handler answering from a route table and remembering every request."""

    def __init__(self, routes: dict[tuple[str, str], object]):
        self.routes = routes
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.routes.get((request.method, request.url.raw_path.decode()))
        if answer is None:
            return httpx.Response(404, json={"detail": "Not Found"})
        if callable(answer):
            return answer(request)
        if isinstance(answer, httpx.Response):
            return answer
        return httpx.Response(200, json=answer)


async def _no_sleep(_: float) -> None:
    return None


def make(routes: dict, **kwargs) -> tuple[SwiftorProvider, Recorder]:
    recorder = Recorder(routes)
    provider = SwiftorProvider(
        "sw",
        "https://api.swiftor.io",
        TOKEN,
        transport=httpx.MockTransport(recorder),
        sleep=_no_sleep,
        **kwargs,
    )
    return provider, recorder


async def test_list_vms_maps_documented_shape():
    running = {
        **DOC_VM,
        "id": "b2",
        "enabled": True,
        "region": {"code": "US"},
        "os": {"distribution": "alpine"},
    }
    provider, rec = make({("GET", "/vms"): {"vms": [DOC_VM, running]}})
    first, second = await provider.list_vms()
    assert first.provider == "sw" and first.provider_kind == "swiftor"
    assert first.id == VM_ID and first.label == "NewVM" and first.region == "AU"
    assert first.state is VmState.STOPPED and second.state is VmState.RUNNING
    assert first.image == "ubuntu-xfce" and second.image == "alpine"
    assert first.specs.vcpu_count == 2 and first.specs.mem_size_mib == 4096
    assert first.specs.persistent_storage is True
    assert second.region == "US"
    request = rec.requests[0]
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    assert request.headers["origin"] == "https://swiftor.io"
    assert request.headers["user-agent"].startswith("vmtui/")


@pytest.mark.parametrize(
    ("answer", "plan"),
    [
        ({"username": "a", "plan": "pro_monthly", "roles": ["user"]}, "engineer"),
        ({"user": {"plan": "hacker_yearly"}}, "hacker"),
        ({"username": "a"}, "core"),
    ],
)
async def test_account_plan_is_normalised(answer, plan):
    provider, rec = make({("GET", "/init"): answer})
    assert (await provider.account_plan()).name == plan
    assert rec.requests[0].url.path == "/init"


async def test_get_vm_missing_is_not_found():
    provider, _ = make({("GET", "/vms"): {"vms": [DOC_VM]}})
    assert (await provider.get_vm(VM_ID)).label == "NewVM"
    with pytest.raises(NotFound):
        await provider.get_vm("nope")


async def test_create_desktop_sends_documented_body_and_returns_vm():
    def create(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"message": "VM created", "vm": DOC_VM})

    provider, rec = make({("POST", "/vms/create"): create})
    vm = await provider.create_desktop(
        "NewVM", "AU", "ubuntu", "xfce", 2, 4, SecretStr("hunter22"), storage_type="persistent"
    )
    assert vm.id == VM_ID and vm.state is VmState.STOPPED
    body = json.loads(rec.requests[0].content)
    assert body == {
        "config": {
            "vmlabel": "NewVM",
            "region": {"code": "AU"},
            "password": "hunter22",
            "storageType": "persistent",
        },
        "os": {"distribution": {"code": "ubuntu"}, "desktop": "xfce", "cpu": 2, "ram": 4},
    }


async def test_create_desktop_answer_without_the_seeds_vm_is_a_bad_response():
    provider, rec = make({("POST", "/vms/create"): {"message": "ok"}, ("GET", "/vms"): {"vms": [DOC_VM]}})
    with pytest.raises(BadResponse, match="Swiftor create"):
        await provider.create_desktop("NewVM", "AU", "ubuntu", "xfce", 2, 4, SecretStr("pw"))
    assert [r.url.path for r in rec.requests] == ["/vms/create"]


async def test_create_desktop_validates_webtop_desktop_before_sending():
    provider, rec = make({})
    with pytest.raises(BadRequest, match="needs a desktop"):
        await provider.create_desktop("x", "AU", "fedora", None, 2, 4, SecretStr("pw"))
    assert rec.requests == []


async def test_generic_create_vm_is_unsupported_with_reason():
    provider, _ = make({})
    with pytest.raises(Unsupported, match="create_desktop"):
        await provider.create_vm(VmConfig())


@pytest.mark.parametrize("action", ["start", "stop", "delete"])
async def test_state_changes_are_gets(action):
    provider, rec = make({("GET", f"/vms/{action}/{VM_ID}"): {"message": "ok"}})
    await getattr(provider, f"{action}_vm")(VM_ID)
    assert [(r.method, r.url.path) for r in rec.requests] == [("GET", f"/vms/{action}/{VM_ID}")]


async def test_path_segments_are_escaped():
    provider, rec = make({})
    with pytest.raises(NotFound):
        await provider.delete_secret(VM_ID, "../../vms/delete/x")
    assert rec.requests[0].url.raw_path.decode() == f"/vms/secrets/{VM_ID}/..%2F..%2Fvms%2Fdelete%2Fx"


async def test_secrets_roundtrip_shapes():
    grouped = {"secrets": {VM_ID: {"VM_PASSWORD": "pw", "API_KEY": "abc"}, "other": {"X": "y"}}}
    provider, rec = make(
        {
            ("GET", "/vms/secrets"): grouped,
            ("POST", "/vms/secrets"): {"message": "saved"},
            ("DELETE", f"/vms/secrets/{VM_ID}/API_KEY"): {"message": "deleted"},
        }
    )
    secrets = await provider.list_secrets(VM_ID)
    assert {k: v.get_secret_value() for k, v in secrets.items()} == {"VM_PASSWORD": "pw", "API_KEY": "abc"}
    assert "abc" not in repr(secrets)
    await provider.set_secret(VM_ID, "API_KEY", SecretStr("new"))
    assert json.loads(rec.requests[-1].content) == {"vmid": VM_ID, "key": "API_KEY", "value": "new"}
    await provider.delete_secret(VM_ID, "API_KEY")
    assert rec.requests[-1].method == "DELETE"


async def test_secrets_list_shape_filters_by_vm():
    listed = {"secrets": [{"vmid": VM_ID, "key": "A", "value": "1"}, {"vmid": "b", "key": "B", "value": "2"}]}
    provider, _ = make({("GET", "/vms/secrets"): listed})
    assert list(await provider.list_secrets(VM_ID)) == ["A"]


async def test_networking_routes_and_urls():
    table = {
        "networking": {
            VM_ID: {"myapp": {"subdomain": "myapp", "internal_port": 5001}},
            "b": {"z": {"subdomain": "z", "internal_port": 1}},
        }
    }
    added_answer = {"message": "ok", "subdomain": f"web.{VM_ID}.swiftor.io", "internal_port": 8080}
    provider, rec = make(
        {
            ("GET", "/vms/networking"): table,
            ("POST", "/vms/networking"): added_answer,
            ("DELETE", f"/vms/networking/{VM_ID}/myapp"): {"message": "ok"},
            ("GET", "/vms"): {"vms": [DOC_VM]},
        }
    )
    [mapping] = await provider.list_mappings(VM_ID)
    assert mapping == PortMapping(
        vmid=VM_ID, name="myapp", port=5001, url=f"https://myapp-{VM_ID}.swiftor.io"
    )
    added = await provider.add_mapping(VM_ID, "web", 8080)
    assert json.loads(rec.requests[-1].content) == {"vmid": VM_ID, "name": "web", "internal_port": 8080}
    assert added.port == 8080 and added.url == f"https://web-{VM_ID}.swiftor.io"
    await provider.delete_mapping(VM_ID, "myapp")
    assert rec.requests[-1].method == "DELETE"
    vm = await provider.get_vm(VM_ID)
    assert await provider.vm_urls(vm) == [
        ("desktop", f"https://{VM_ID}.swiftor.io"),
        ("myapp", f"https://myapp-{VM_ID}.swiftor.io"),
    ]


async def test_local_urls_use_the_engines_port():
    table = {"networking": {"v1": {"app": {"subdomain": "app", "internal_port": 80}}}}
    recorder = Recorder({("GET", "/swiftor/vms/networking"): table})
    provider = SwiftorProvider(
        "local", "http://127.0.0.1:9999/swiftor", TOKEN, transport=httpx.MockTransport(recorder)
    )
    [mapping] = await provider.list_mappings("v1")
    assert mapping.url == "http://app-v1.localhost:9999"
    assert provider.desktop_url("v1") == "http://v1.localhost:9999"


async def test_shell_access_only_on_the_local_engine():
    remote, rec = make({})
    assert not remote.capabilities.has_exec and not remote.capabilities.has_ssh
    with pytest.raises(Unsupported):
        await remote.exec(VM_ID, ["true"])
    with pytest.raises(Unsupported):
        remote.ssh_endpoint(VM_ID)
    assert rec.requests == []


async def test_local_engine_exec_ssh_key_and_endpoint():
    def exec_route(request: httpx.Request) -> httpx.Response:
        assert json.loads(request.content) == {"vmid": VM_ID, "command": ["env"], "timeout_secs": 5}
        return httpx.Response(200, json={"exit_code": 0, "stdout": "A=1\n", "stderr": ""})

    recorder = Recorder(
        {
            ("POST", "/swiftor/vms/exec"): exec_route,
            ("GET", f"/swiftor/vms/ssh_key/{VM_ID}"): {"ssh_private_key": "-----KEY-----", "ssh_port": 2222},
        }
    )
    provider = SwiftorProvider(
        "local",
        "http://127.0.0.1:9999/swiftor",
        TOKEN,
        transport=httpx.MockTransport(recorder),
        local_engine=True,
        ssh_address=("127.0.0.1", 2222),
        ca_path="/tmp/ca.pem",
    )
    assert provider.capabilities.has_exec and provider.capabilities.has_ssh
    result = await provider.exec(VM_ID, ["env"], timeout_secs=5)
    assert result.exit_code == 0 and result.stdout == "A=1\n"
    key = await provider.ssh_key(VM_ID)
    assert key.port == 2222 and "KEY" not in repr(key)
    endpoint = provider.ssh_endpoint(VM_ID)
    assert (endpoint.host, endpoint.port, endpoint.server_name) == (
        "127.0.0.1",
        2222,
        f"{VM_ID}.vm.localhost",
    )
    assert endpoint.ca_path == "/tmp/ca.pem"
    assert not SwiftorProvider.capabilities.has_exec, "instance capabilities must not leak to the class"


# -- errors ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "body", "error", "text"),
    [
        (401, {"detail": "Invalid token"}, AuthError, "Invalid token"),
        (403, {"detail": "Not authenticated"}, AuthError, "Not authenticated"),
        (404, {"detail": "User not found"}, NotFound, "User not found"),
        (400, {"detail": "VM exceeds the core plan limit: 4 vCPU requested"}, QuotaExceeded, "core plan"),
        (400, {"detail": "Invalid distribution"}, BadRequest, "Invalid distribution"),
        (500, {"detail": "Failed to update subscription record."}, Unavailable, "subscription"),
    ],
)
async def test_detail_string_errors(status, body, error, text):
    provider, _ = make({("GET", "/vms"): httpx.Response(status, json=body)})
    with pytest.raises(error) as caught:
        await provider.list_vms()
    assert text in caught.value.message and caught.value.status == status


async def test_validation_list_names_fields_and_never_echoes_inputs():
    detail = [
        {"loc": ["body", "config", "vmlabel"], "msg": "Field required", "type": "missing", "input": {}},
        {"loc": ["body", "config", "password"], "msg": "String too short", "type": "x", "input": "hunter22"},
    ]
    provider, _ = make({("POST", "/vms/create"): httpx.Response(422, json={"detail": detail})})
    with pytest.raises(BadRequest) as caught:
        await provider.create_desktop("", "AU", "ubuntu", "xfce", 2, 4, SecretStr("hunter22"))
    message = str(caught.value)
    assert "config.vmlabel: Field required" in message and "config.password: String too short" in message
    assert "hunter22" not in message and caught.value.status == 422


async def test_bare_500_retried_then_unavailable():
    provider, rec = make({("GET", "/vms"): httpx.Response(503, text="")}, max_retries=2)
    with pytest.raises(Unavailable) as caught:
        await provider.list_vms()
    assert len(rec.requests) == 3 and caught.value.status == 503


async def test_bare_500_text_kept_short_and_not_retried():
    provider, rec = make(
        {("GET", "/vms"): httpx.Response(500, text="Internal Server Error\x1b[31m" + "x" * 500)}
    )
    with pytest.raises(Unavailable) as caught:
        await provider.list_vms()
    assert len(rec.requests) == 1
    assert "\x1b" not in caught.value.message and len(caught.value.message) < 220


async def test_malformed_json_is_bad_response():
    provider, _ = make(
        {
            ("GET", "/vms"): httpx.Response(
                200, text="{not json", headers={"content-type": "application/json"}
            ),
            ("GET", "/vms/secrets"): httpx.Response(200, text="<html>login</html>"),
        }
    )
    with pytest.raises(BadResponse, match="malformed JSON"):
        await provider.list_vms()
    with pytest.raises(BadResponse, match="expected JSON"):
        await provider.list_secrets(VM_ID)


@pytest.mark.parametrize("body", [[], {"vms": {}}, {"vms": [{"vmlabel": "no id"}]}, {"nope": 1}])
async def test_schema_drift_is_bad_response(body):
    provider, _ = make({("GET", "/vms"): body})
    with pytest.raises(BadResponse):
        await provider.list_vms()


async def test_rate_limit_honours_retry_after_then_succeeds():
    answers = [httpx.Response(429, headers={"Retry-After": "7"}, json={"detail": "slow down"})]
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    def handler(request: httpx.Request) -> httpx.Response:
        return answers.pop() if answers else httpx.Response(200, json={"vms": []})

    provider = SwiftorProvider(
        "sw", "https://api.swiftor.io", TOKEN, transport=httpx.MockTransport(handler), sleep=sleep
    )
    assert await provider.list_vms() == []
    assert slept == [7.0]


async def test_rate_limit_exhausted_raises_rate_limited():
    provider, rec = make(
        {("GET", "/vms"): httpx.Response(429, headers={"Retry-After": "99"}, json={"detail": "x"})}
    )
    with pytest.raises(RateLimited) as caught:
        await provider.list_vms()
    assert caught.value.retry_after == 99.0 and len(rec.requests) == 4


async def test_post_retried_with_one_idempotency_key():
    provider, rec = make(
        {("POST", "/vms/secrets"): httpx.Response(503, json={"detail": "busy"})}, max_retries=2
    )
    with pytest.raises(Unavailable, match="busy"):
        await provider.set_secret(VM_ID, "K", "v")
    keys = {r.headers["x-idempotency-key"] for r in rec.requests}
    assert len(rec.requests) == 3 and len(keys) == 1


async def test_connect_error_retried_and_token_never_in_message():
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        raise httpx.ConnectError(f"refused, header was Bearer {TOKEN}")

    provider = SwiftorProvider(
        "sw", "https://api.swiftor.io", TOKEN, transport=httpx.MockTransport(handler), sleep=_no_sleep
    )
    with pytest.raises(Unavailable) as caught:
        await provider.list_vms()
    assert calls == 4
    assert TOKEN not in str(caught.value) and TOKEN not in repr(provider)


async def test_timeout_is_unavailable():
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow")

    provider = SwiftorProvider(
        "sw",
        "https://api.swiftor.io",
        TOKEN,
        transport=httpx.MockTransport(handler),
        sleep=_no_sleep,
        max_retries=0,
    )
    with pytest.raises(Unavailable, match="did not answer"):
        await provider.list_vms()


def test_capabilities_and_plans():
    caps = SwiftorProvider.capabilities
    assert caps.can_start_stop and caps.has_secrets and caps.has_networking and caps.can_create
    assert not (caps.can_branch or caps.can_commit or caps.can_pause or caps.has_images)
    assert normalise_plan("pro_monthly") == "engineer" and normalise_plan("hacker_yearly") == "hacker"
    assert normalise_plan(None) == "core" and normalise_plan("Engineer") == "engineer"
    assert [(p.max_cpu, p.max_ram_gb, p.storage_gb) for p in PLANS.values()] == [
        (1, 2, 2),
        (4, 8, 30),
        (8, 16, 150),
    ]
    assert PLANS["core"].violation(1, 2) is None
    assert "at most 1 allowed" in PLANS["core"].violation(2, 2)
    assert "at most 2 GB allowed" in PLANS["core"].violation(1, 3)
    assert PLANS["engineer"].violation(8, 16) is None and "at most 16 GB" in PLANS["engineer"].violation(
        8, 17
    )
    assert PLANS["core"].running_violation(0) is None and "1 VM(s)" in PLANS["core"].running_violation(1)


# -- fuzz -----------------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)
payloads = st.one_of(
    json_values.map(lambda v: json.dumps(v).encode()),
    st.fixed_dictionaries({"vms": st.lists(json_values, max_size=3)}).map(lambda v: json.dumps(v).encode()),
    st.fixed_dictionaries(
        {
            "secrets": st.dictionaries(st.just(VM_ID), json_values, max_size=1) | json_values,
            "networking": st.dictionaries(st.just(VM_ID), json_values, max_size=1) | json_values,
            "detail": json_values,
        }
    ).map(lambda v: json.dumps(v).encode()),
    st.binary(max_size=64),
)
CALLS = [
    lambda p: p.list_vms(),
    lambda p: p.list_secrets(VM_ID),
    lambda p: p.list_mappings(VM_ID),
    lambda p: p.create_desktop("l", "AU", "ubuntu", "kde", 1, 1, SecretStr("pw")),
    lambda p: p.start_vm(VM_ID),
    lambda p: p.account_plan(),
]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    status=st.sampled_from([200, 201, 400, 401, 404, 409, 422, 429, 500]),
    body=payloads,
    call=st.sampled_from(CALLS),
)
async def test_fuzz_only_provider_errors_escape(status, body, call):
    provider = SwiftorProvider(
        "sw",
        "https://api.swiftor.io",
        TOKEN,
        transport=httpx.MockTransport(
            lambda request: httpx.Response(status, content=body, headers={"content-type": "application/json"})
        ),
        sleep=_no_sleep,
        max_retries=0,
    )
    try:
        await call(provider)
    except ProviderError as exc:
        assert TOKEN not in str(exc)
