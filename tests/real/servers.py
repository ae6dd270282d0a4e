"""Start real Gravitee AM and open-source APIM on loopback, from the artifacts tests/real/artifacts.py fetched.

    python -m tests.real.servers            start what can be had, print URLs, keep running until Ctrl-C
    python -m tests.real.servers --state F  also write the URLs and credentials to F (JSON) for
                                            MCPGATE_REAL_SERVERS=F make test-real (reuse, fast iteration)
    python -m tests.real.servers --only postgres   the database alone

Order: PostgreSQL (databases ``am`` and ``apim``), AM management API (it runs Liquibase), AM gateway, APIM
management API (Liquibase), APIM gateway; one at a time, each on free ports with its log in the run folder
and a bounded health wait that prints the log's tail when it fails. Everything stops on exit, Ctrl-C and
failure (tests/real/processes.py). Configuration is ours: environment variables over AM's packaged files, and
for APIM, whose artifacts carry no configuration, a gravitee.yml written here.

Artifacts come from the record of the last ``python -m tests.real.artifacts`` (``make real-artifacts``), fetched
here only when there is none. A component whose artifacts Maven could not fetch is not started; the reason (Maven's own words) is reported
in ``unavailable``. Nothing else is started in its place.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import sys
import tempfile
import time
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

import requests

from tests.real import artifacts, postgres
from tests.real.processes import Managed, ProcessGroup, StartFailed, free_ports, wait_until

JAVA = Path(os.environ.get("MCPGATE_REAL_JAVA", "/usr/lib/jvm/temurin-25-jdk-amd64/bin/java"))
HEAP = os.environ.get("MCPGATE_REAL_HEAP", "512m")
START_TIMEOUT = float(os.environ.get("MCPGATE_REAL_START_TIMEOUT", "420"))  # per JVM, 2 shared cores
SYNC_TIMEOUT = 120
# The well-known default users of fresh installs (throw-away local servers only).
AM_ADMIN = ("admin", "adminadmin")
APIM_ADMIN = ("admin", "admin")
NODE_ADMIN = ("admin", "adminadmin")
AM_DOMAIN = "mcp-real"
AM_MAIN = {"management": "io.gravitee.am.management.standalone.bootstrap.Bootstrap",
           "gateway": "io.gravitee.am.gateway.bootstrap.Bootstrap"}
APIM_MAIN = {"apim-rest-api": "io.gravitee.rest.api.standalone.boostrap.Bootstrap",  # sic: upstream's package name
             "apim-gateway": "io.gravitee.gateway.standalone.boostrap.Bootstrap"}
JVM_FLAGS = ["-Djava.awt.headless=true", "-Dfile.encoding=UTF-8", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1"]
VERTX_FLAGS = ["-Dvertx.disableFileCaching=true", "-Dvertx.disableFileCPResolving=true",
               "-Dvertx.logger-delegate-factory-class-name=io.vertx.core.logging.SLF4JLogDelegateFactory"]


@dataclass
class Servers:
    """What tests need: base URLs (keys as the simulator's), credentials, the AM domain, and what is missing."""

    urls: dict[str, str] = field(default_factory=dict)
    node_urls: dict[str, str] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    am_domain: dict[str, str] = field(default_factory=dict)
    postgres_port: int | None = None
    run_dir: str = ""
    unavailable: dict[str, str] = field(default_factory=dict)
    start_seconds: dict[str, float] = field(default_factory=dict)

    def env(self) -> dict[str, str]:
        """The GRAVITEE_* variables the collection's modules fall back to (well-known dev credentials)."""
        env = {}
        if "am" in self.urls:
            env |= {"GRAVITEE_AM_URL": self.urls["am"], "GRAVITEE_AM_USERNAME": AM_ADMIN[0], "GRAVITEE_AM_PASSWORD": AM_ADMIN[1]}
        if "apim" in self.urls:
            env |= {"GRAVITEE_APIM_URL": self.urls["apim"], "GRAVITEE_APIM_USERNAME": APIM_ADMIN[0],
                    "GRAVITEE_APIM_PASSWORD": APIM_ADMIN[1]}
        return env

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self), indent=2) + "\n")

    @classmethod
    def load(cls, path: Path) -> Servers:
        return cls(**json.loads(path.read_text()))


def _java(home: Path, main: str, extra: list[str]) -> list[str]:
    bootstrap = sorted((home / "lib").glob("*-standalone-bootstrap-*.jar"))
    if len(bootstrap) != 1:
        raise StartFailed(f"{home}/lib must hold exactly one *-standalone-bootstrap-*.jar, found {[b.name for b in bootstrap]}")
    return [str(JAVA), "-Xms128m", f"-Xmx{HEAP}", *JVM_FLAGS, *extra, f"-Dgravitee.home={home}", "-cp", str(bootstrap[0]), main]


def _health(url: str, auth=NODE_ADMIN):
    return lambda: requests.get(url, auth=auth, timeout=5).status_code == 200


def _unzip_home(zip_path: Path, into: Path) -> Path:
    with zipfile.ZipFile(zip_path) as archive:
        archive.extractall(into)
        top = archive.namelist()[0].split("/")[0]
    home = into / top
    for script in (home / "bin").glob("*"):
        script.chmod(0o755)
    return home


def _jdbc_env(prefix: str, pg: postgres.Postgres, database: str) -> dict[str, str]:
    return {f"{prefix}_JDBC_DRIVER": "postgresql", f"{prefix}_JDBC_HOST": "127.0.0.1", f"{prefix}_JDBC_PORT": str(pg.port),
            f"{prefix}_JDBC_DATABASE": database, f"{prefix}_JDBC_USERNAME": postgres.DB_USER,
            f"{prefix}_JDBC_PASSWORD": postgres.DB_PASSWORD}


def start_am(group: ProcessGroup, pg: postgres.Postgres, run: Path, servers: Servers) -> None:
    fetched = artifacts.load("am") or artifacts.fetch("am")
    if not fetched.ok:
        servers.unavailable["am"] = fetched.reason
        return
    homes = {}
    for kind, pattern in (("management", "*management-api-standalone-distribution-zip*.zip"),
                          ("gateway", "*gateway-standalone-distribution-zip*.zip")):
        homes[kind] = _unzip_home(next((fetched.home / "download").glob(pattern)), run / f"am-{kind}")
        for plugin_id in ("repository-am-jdbc", "dataplane-am-jdbc", "reporter-am-jdbc"):
            ext = homes[kind] / "plugins" / "ext" / plugin_id
            ext.mkdir(parents=True, exist_ok=True)
            for driver in (fetched.home / "drivers").glob("*.jar"):
                shutil.copy2(driver, ext)
        # Console only (the run folder keeps it), without the JDBC audit reporter's duplicate-key flood
        # (real-gravitee-here.md: gigabytes of logs in minutes).
        (homes[kind] / "config" / "logback.xml").write_text(logback(AM_QUIET_LOGGERS))
    api_port, api_node, gw_port, gw_node = free_ports(4)
    common = {"GRAVITEE_SERVICES_CORE_HTTP_HOST": "127.0.0.1", **{k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")}}
    for scope in ("MANAGEMENT", "OAUTH2", "GATEWAY"):
        common |= {f"GRAVITEE_REPOSITORIES_{scope}_TYPE": "jdbc", **_jdbc_env(f"GRAVITEE_REPOSITORIES_{scope}", pg, "am")}
    management_env = {**common, "GRAVITEE_JETTY_PORT": str(api_port), "GRAVITEE_SERVICES_CORE_HTTP_PORT": str(api_node),
                      "GRAVITEE_DATAPLANES_0_ID": "default", "GRAVITEE_DATAPLANES_0_NAME": "Default data plane",
                      "GRAVITEE_DATAPLANES_0_TYPE": "jdbc", "GRAVITEE_DATAPLANES_0_GATEWAY_URL": f"http://127.0.0.1:{gw_port}",
                      **_jdbc_env("GRAVITEE_DATAPLANES_0", pg, "am"),
                      # No per-domain database reporter: with the organisation's it floods the log with duplicate keys.
                      "GRAVITEE_DOMAINS_REPORTERS_DEFAULT_ENABLED": "false",
                      "GRAVITEE_SERVICES_SYNC_CRON": "*/2 * * * * *"}
    gateway_env = {**common, "GRAVITEE_HTTP_PORT": str(gw_port), "GRAVITEE_SERVICES_CORE_HTTP_PORT": str(gw_node),
                   "GRAVITEE_SERVICES_SYNC_CRON": "*/1 * * * * *", "GRAVITEE_SERVICES_SYNC_TIMEFRAMEBEFOREDELAY": "5000",
                   "GRAVITEE_SERVICES_SYNC_TIMEFRAMEAFTERDELAY": "5000", "GRAVITEE_SERVICES_SYNC_PROBES_STATE_ENABLED": "true"}
    for kind, env, node, port in (("management", management_env, api_node, api_port), ("gateway", gateway_env, gw_node, gw_port)):
        log = run / f"am-{kind}.log"
        process = group.spawn(f"AM {kind}", _java(homes[kind], AM_MAIN[kind], []), log, cwd=homes[kind], env=env)
        probe = "jetty-http-server" if kind == "management" else "http-server"
        servers.start_seconds[f"am_{kind}"] = wait_until(
            _health(f"http://127.0.0.1:{node}/_node/health?probes={probe}"), START_TIMEOUT, f"AM {kind} {fetched.version}",
            process, log, interval=2)
        servers.node_urls["am" if kind == "management" else "am_gateway"] = f"http://127.0.0.1:{node}"
    servers.urls |= {"am": f"http://127.0.0.1:{api_port}", "am_gateway": f"http://127.0.0.1:{gw_port}"}
    servers.versions["am"] = fetched.version
    servers.am_domain = bootstrap_am_domain(servers)


def bootstrap_am_domain(servers: Servers, name: str = AM_DOMAIN) -> dict[str, str]:
    """Create and enable an AM security domain, then wait until the AM gateway serves it."""
    base = servers.urls["am"] + "/management"
    token = requests.post(base + "/auth/token", auth=AM_ADMIN, timeout=30)
    token.raise_for_status()
    headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
    domains = base + "/organizations/DEFAULT/environments/DEFAULT/domains"
    created = requests.post(domains, json={"name": name, "dataPlaneId": "default"}, headers=headers, timeout=60)
    created.raise_for_status()
    domain = created.json()
    requests.patch(f"{domains}/{domain['id']}", json={"enabled": True}, headers=headers, timeout=60).raise_for_status()
    # AM 4.10 has no domain readiness endpoint on the node API (4.12's /_node/domains): the domain is served when its
    # discovery document is (before that the gateway answers 404 "No security domain matches the request URI").
    ready = f"{servers.urls['am_gateway']}/{domain['hrid']}/oidc/.well-known/openid-configuration"
    seconds = wait_until(_health(ready, auth=None), SYNC_TIMEOUT, f"AM gateway sync of domain {name}", interval=1)
    servers.start_seconds["am_domain_sync"] = seconds
    return {"id": domain["id"], "hrid": domain["hrid"], "name": name, "path": domain.get("path", "/" + domain["hrid"])}


def _apim_yaml(pg: postgres.Postgres, http_key: str, port: int, node_port: int, extra: str) -> str:
    return f"""# Written by tests/real/servers.py for a throw-away loopback server.
{http_key}:
  port: {port}
  host: 127.0.0.1
# APIM 4.10 reads its repositories at the top level (management, ratelimit, analytics), not under repositories:.
management:
  type: jdbc
  jdbc:
    url: {pg.jdbc_url('apim')}
    username: {postgres.DB_USER}
    password: {postgres.DB_PASSWORD}
ratelimit:
  type: none
analytics:
  type: none
services:
  core:
    http:
      enabled: true
      host: 127.0.0.1
      port: {node_port}
      authentication:
        type: basic
        users:
          {NODE_ADMIN[0]}: {NODE_ADMIN[1]}
{extra}"""


AM_QUIET_LOGGERS = '<logger name="io.gravitee.am.reporter" level="OFF"/>'


def logback(quiet_loggers: str = "") -> str:
    """Console logging at INFO, with ``quiet_loggers`` (logger elements) in front of the root."""
    return f"""<configuration>
  <appender name="OUT" class="ch.qos.logback.core.ConsoleAppender">
    <encoder><pattern>%d{{HH:mm:ss.SSS}} %-5level [%thread] %logger{{36}} - %msg%n</pattern></encoder>
  </appender>
  {quiet_loggers}
  <root level="INFO"><appender-ref ref="OUT"/></root>
</configuration>
"""


def start_apim(group: ProcessGroup, pg: postgres.Postgres, run: Path, servers: Servers) -> None:
    fetched = {c: artifacts.load(c) or artifacts.fetch(c) for c in ("apim-rest-api", "apim-gateway")}
    missing = {c: f.reason for c, f in fetched.items() if not f.ok}
    if missing:
        servers.unavailable |= missing
        return
    api_port, api_node, gw_port, gw_node = free_ports(4)
    jwt_secret = secrets.token_urlsafe(32)
    configs = {
        "apim-rest-api": _apim_yaml(pg, "jetty", api_port, api_node, f"""  sync:
    cron: "*/1 * * * * *"
jwt:
  secret: {jwt_secret}
security:
  providers:
    - type: memory
      password-encoding-algo: none
      users:
        - user:
          username: {APIM_ADMIN[0]}
          password: {APIM_ADMIN[1]}
          roles: ORGANIZATION:ADMIN,ENVIRONMENT:ADMIN
    - type: gravitee
"""),
        "apim-gateway": _apim_yaml(pg, "http", gw_port, gw_node, """  sync:
    delay: 500
    unit: MILLISECONDS
  heartbeat:
    enabled: false
reporters:
  elasticsearch:
    enabled: false
"""),
    }
    for component in ("apim-rest-api", "apim-gateway"):
        home = run / component
        shutil.copytree(fetched[component].home, home, ignore=shutil.ignore_patterns("resolved.json", "maven.log"))
        for folder in ("config", "logs", "templates", "data", "plugins/.work"):
            (home / folder).mkdir(parents=True, exist_ok=True)
        (home / "config" / "gravitee.yml").write_text(configs[component])
        (home / "config" / "logback.xml").write_text(logback())
        extra = VERTX_FLAGS + (["-Djersey.config.server.wadl.disableWadl=true"] if component == "apim-rest-api" else [])
        log = run / f"{component}.log"
        env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")}
        process = group.spawn(component, _java(home, APIM_MAIN[component], extra), log, cwd=home, env=env)
        if component == "apim-rest-api":
            check = _health(f"http://127.0.0.1:{api_port}/management/organizations/DEFAULT/user", auth=APIM_ADMIN)
        else:
            check = _health(f"http://127.0.0.1:{gw_node}/_node/health")
        servers.start_seconds[component] = wait_until(check, START_TIMEOUT, f"{component} {fetched[component].version}",
                                                      process, log, interval=2)
    servers.urls |= {"apim": f"http://127.0.0.1:{api_port}", "apim_gateway": f"http://127.0.0.1:{gw_port}"}
    servers.node_urls |= {"apim": f"http://127.0.0.1:{api_node}", "apim_gateway": f"http://127.0.0.1:{gw_node}"}
    servers.versions["apim"] = fetched["apim-gateway"].version


def start(group: ProcessGroup, only: tuple[str, ...] = ("am", "apim"), run_dir: Path | None = None) -> Servers:
    """Start PostgreSQL then each product in ``only`` that can be had; returns what runs and what is missing."""
    run = run_dir or Path(tempfile.mkdtemp(prefix="mcpgate-real-run-"))
    run.mkdir(parents=True, exist_ok=True)
    servers = Servers(run_dir=str(run))
    started = time.monotonic()
    pg = postgres.start(group)
    servers.postgres_port = pg.port
    servers.start_seconds["postgres"] = round(time.monotonic() - started, 1)
    if not JAVA.is_file() and any(p in only for p in ("am", "apim")):
        raise StartFailed(f"Java 25 not found at {JAVA} (set MCPGATE_REAL_JAVA)")
    if "am" in only:
        start_am(group, pg, run, servers)
    if "apim" in only:
        start_apim(group, pg, run, servers)
    return servers


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=["postgres", "am", "apim"], action="append", help="start only these (repeatable)")
    parser.add_argument("--state", type=Path, help="write URLs and credentials here (JSON) for MCPGATE_REAL_SERVERS")
    parser.add_argument("--exit-when-ready", action="store_true", help="stop everything once started (a start check)")
    args = parser.parse_args(argv)
    group = ProcessGroup()
    group.install_signal_handlers()
    try:
        only = tuple(o for o in (args.only or ["am", "apim"]) if o != "postgres")
        servers = start(group, only)
    except StartFailed as failed:
        print(f"FAILED: {failed}", file=sys.stderr)
        group.stop()
        return 1
    print(f"PostgreSQL 15 on 127.0.0.1:{servers.postgres_port} (databases am, apim; user {postgres.DB_USER})")
    for name, url in servers.urls.items():
        print(f"{name}: {url}")
    for name, url in servers.node_urls.items():
        print(f"{name} node API: {url} (Basic {NODE_ADMIN[0]}:{NODE_ADMIN[1]})")
    if servers.am_domain:
        print(f"AM domain: {servers.am_domain}")
    if "am" in servers.urls:
        print(f"AM management: {AM_ADMIN[0]} / {AM_ADMIN[1]}  (well-known default, throw-away server)")
    if "apim" in servers.urls:
        print(f"APIM management: {APIM_ADMIN[0]} / {APIM_ADMIN[1]}  (well-known default, throw-away server)")
    for name, reason in servers.unavailable.items():
        print(f"NOT STARTED {name}: {reason}")
    print(f"start times (s): {servers.start_seconds}; logs in {servers.run_dir}")
    if args.state:
        servers.save(args.state)
        group.add(Managed("state file", lambda: args.state.unlink(missing_ok=True)))
        print(f"state written to {args.state}")
    print("ready", flush=True)
    if not args.exit_when_ready:
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
    group.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
