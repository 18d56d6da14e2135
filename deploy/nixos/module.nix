# services.nixfleet-cp: the NixFleet control plane's ingestion service as a hardened systemd
# unit. Options mirror `nixfleet-cp serve` flags; the state (database, PKI) is /var/lib/nixfleet-cp.
{ config, lib, pkgs, ... }:

let
  cfg = config.services.nixfleet-cp;
  inherit (lib) mkEnableOption mkIf mkOption optional optionals types;
  stateDir = "/var/lib/nixfleet-cp";
  portOf = address: lib.toInt (lib.last (lib.splitString ":" address));
  optionalFlag = flag: value: optionals (value != null) [ flag (toString value) ];

  flags =
    [
      "--listen" cfg.listen
      "--state-dir" stateDir
      "--agent-cn-suffix" cfg.agentCnSuffix
      "--channel-capacity" (toString cfg.channelCapacity)
      "--batch-size" (toString cfg.batchSize)
      "--max-events-per-call" (toString cfg.maxEventsPerCall)
      "--max-message-bytes" (toString cfg.maxMessageBytes)
      "--retry-after" (toString cfg.retryAfter)
      "--shutdown-timeout" (toString cfg.shutdownTimeout)
      "--log-level" cfg.logLevel
      "--require-signatures" (lib.boolToString cfg.requireSignatures)
      "--heartbeat-interval" cfg.heartbeatInterval
      "--binding-refusals" cfg.bindingRefusals
      "--metrics-listen-allow-remote" (lib.boolToString cfg.metricsListenAllowRemote)
      "--max-probes-per-record" (toString cfg.maxProbesPerRecord)
      "--max-connections" (toString cfg.maxConnections)
      "--max-connections-per-peer" (toString cfg.maxConnectionsPerPeer)
      "--tls-handshake-timeout" (toString cfg.tlsHandshakeTimeout)
      "--idle-timeout" (toString cfg.idleTimeout)
      "--request-timeout" (toString cfg.requestTimeout)
      "--max-buffered-bytes-per-peer" (toString cfg.maxBufferedBytesPerPeer)
      "--max-buffered-bytes" (toString cfg.maxBufferedBytes)
      "--max-streams-per-connection" (toString cfg.maxStreamsPerConnection)
      "--max-streams" (toString cfg.maxStreams)
      "--reflection" cfg.reflection
      "--lean-path" cfg.leanPath
      "--store-probe-interval" (toString cfg.storeProbeInterval)
    ]
    ++ optionalFlag "--db" cfg.db
    ++ optionalFlag "--tls-cert" cfg.tlsCert
    ++ optionalFlag "--tls-key" cfg.tlsKey
    ++ optionalFlag "--client-ca" cfg.clientCa
    ++ optionalFlag "--revocations" cfg.revocations
    ++ optionalFlag "--metrics-listen" cfg.metricsListen
    ++ optionalFlag "--health-listen" cfg.healthListen
    ++ lib.concatMap (cn: [ "--operator-cn" cn ]) cfg.operatorCns
    ++ cfg.extraFlags;
in
{
  options.services.nixfleet-cp = {
    enable = mkEnableOption "the NixFleet control plane (nixfleet-cp)";

    package = mkOption {
      type = types.package;
      description = "The package providing bin/nixfleet-cp.";
    };

    listen = mkOption {
      type = types.str;
      default = "0.0.0.0:8443";
      description = "mTLS listener, host:port (IPv6 in brackets).";
    };

    db = mkOption {
      type = types.nullOr types.str;
      default = null;
      example = "postgres://nixfleet-cp@/nixfleet-cp?host=/run/postgresql";
      description = "SQLite path or postgres:// URL; null: ${stateDir}/nixfleet-cp.sqlite.";
    };

    tlsCert = mkOption {
      type = types.nullOr types.str;
      default = null;
      description = "Server certificate PEM; null: ${stateDir}/pki/server.pem. Reloaded on change.";
    };

    tlsKey = mkOption {
      type = types.nullOr types.str;
      default = null;
      description = "Server key PEM; null: ${stateDir}/pki/server-key.pem. Reloaded on change.";
    };

    clientCa = mkOption {
      type = types.nullOr types.str;
      default = null;
      description = "Fleet client CA PEM; null: ${stateDir}/pki/ca.pem. Reloaded on change.";
    };

    agentCnSuffix = mkOption {
      type = types.str;
      default = "fleet.lab.internal";
      description = "Agent certificates have CN agent-<machineId>.<suffix>.";
    };

    operatorCns = mkOption {
      type = types.listOf types.str;
      default = [ ];
      description = "CNs treated as operators besides operator-<name>.<suffix>.";
    };

    revocations = mkOption {
      type = types.nullOr types.str;
      default = null;
      description = "JSON file of {hostname, notBefore, reason} entries, re-read when it changes.";
    };

    channelCapacity = mkOption {
      type = types.ints.positive;
      default = 1024;
      description = "Events accepted and waiting for the reducer; beyond it, resource_exhausted.";
    };

    batchSize = mkOption {
      type = types.ints.positive;
      default = 256;
      description = "Most events per reducer transaction.";
    };

    metricsListen = mkOption {
      type = types.nullOr types.str;
      default = "127.0.0.1:9464";
      description = "Plain HTTP /metrics, /healthz, /readyz (loopback unless metricsListenAllowRemote).";
    };

    metricsListenAllowRemote = mkOption {
      type = types.bool;
      default = false;
      description = "Let metricsListen bind a non-loopback address (no TLS, no authentication).";
    };

    healthListen = mkOption {
      type = types.nullOr types.str;
      default = null;
      example = "0.0.0.0:8080";
      description = "Plain HTTP /healthz and /readyz for load balancers, on any address.";
    };

    maxMessageBytes = mkOption {
      type = types.ints.positive;
      default = 1048576;
      description = "Largest request accepted.";
    };

    retryAfter = mkOption {
      type = types.ints.positive;
      default = 1;
      description = "Seconds hinted to clients that are shed.";
    };

    shutdownTimeout = mkOption {
      type = types.ints.positive;
      default = 10000;
      description = "Milliseconds to wait for open connections on SIGTERM after draining.";
    };

    logLevel = mkOption {
      type = types.enum [ "fatal" "error" "warn" "info" "debug" "trace" "silent" ];
      default = "info";
      description = "pino log level (JSON lines on stdout, into the journal).";
    };

    maxEventsPerCall = mkOption {
      type = types.ints.positive;
      default = 256;
      description = "Most events one PostEvents call may hold (never more than channelCapacity).";
    };

    maxProbesPerRecord = mkOption {
      type = types.ints.positive;
      default = 256;
      description = "Distinct probe names one host-rollout record may hold; more are refused.";
    };

    maxConnections = mkOption {
      type = types.ints.positive;
      default = 10000;
      description = "Open TLS connections in total.";
    };

    maxConnectionsPerPeer = mkOption {
      type = types.ints.positive;
      default = 64;
      description = "Open connections per client certificate.";
    };

    tlsHandshakeTimeout = mkOption {
      type = types.ints.positive;
      default = 10000;
      description = "Milliseconds a connection has to complete the TLS handshake.";
    };

    idleTimeout = mkOption {
      type = types.ints.positive;
      default = 120000;
      description = "Milliseconds an HTTP/2 session may stay open with no stream.";
    };

    requestTimeout = mkOption {
      type = types.ints.positive;
      default = 30000;
      description = "Milliseconds a request has to deliver its headers and body, and a connection with answers pending may read none of them.";
    };

    maxBufferedBytesPerPeer = mkOption {
      type = types.ints.positive;
      default = 4194304;
      description = "Response bytes buffered for a connection that does not read before it is closed.";
    };

    maxBufferedBytes = mkOption {
      type = types.ints.positive;
      default = 134217728;
      description = "Response bytes buffered for all connections before the largest are closed.";
    };

    maxStreamsPerConnection = mkOption {
      type = types.ints.positive;
      default = 32;
      description = "HTTP/2 streams one connection may hold open; more are refused.";
    };

    maxStreams = mkOption {
      type = types.ints.positive;
      default = 512;
      description = "HTTP/2 streams in flight on all connections; beyond, connections holding 2 or more get new ones refused.";
    };

    reflection = mkOption {
      type = types.enum [ "operators" "all" "off" ];
      default = "operators";
      description = "Who may use gRPC reflection.";
    };

    leanPath = mkOption {
      type = types.enum [ "on" "off" ];
      default = "on";
      description = "on: serve PostEvent's and PostEvents' common form (unary POST over HTTP/2, identity, no deadline) on the HTTP/2 stream API; off: every request through connect-node.";
    };

    storeProbeInterval = mkOption {
      type = types.ints.positive;
      default = 1000;
      description = "Milliseconds between database probes while it is unreachable.";
    };

    requireSignatures = mkOption {
      type = types.bool;
      default = false;
      description = "Refuse events without a signature (present ones are always verified).";
    };

    heartbeatInterval = mkOption {
      type = types.strMatching "[0-9]+(ms|s|m)?";
      default = "60s";
      description = "The agents' heartbeat interval (60s, 500ms, 2m); a host silent for 3 of them is unreachable.";
    };

    bindingRefusals = mkOption {
      type = types.enum [ "record" "status" ];
      default = "record";
      description = ''
        How the HTTP JSON binding answers a refused event (recorded in either case):
        "record" answers 202 with the verdict so existing agents never wedge; "status"
        answers the truthful 404 / 409 / 400, for agents that drop 4xx events.
      '';
    };

    extraFlags = mkOption {
      type = types.listOf types.str;
      default = [ ];
      description = "Further flags for nixfleet-cp serve.";
    };

    openFirewall = mkOption {
      type = types.bool;
      default = false;
      description = "Open the mTLS port (and the health port, when set) in the firewall.";
    };
  };

  config = mkIf cfg.enable {
    users.users.nixfleet-cp = {
      isSystemUser = true;
      group = "nixfleet-cp";
      home = stateDir;
    };
    users.groups.nixfleet-cp = { };

    networking.firewall.allowedTCPPorts = mkIf cfg.openFirewall (
      [ (portOf cfg.listen) ] ++ optional (cfg.healthListen != null) (portOf cfg.healthListen)
    );

    systemd.services.nixfleet-cp = {
      description = "NixFleet control plane: agent event ingestion over mTLS";
      wantedBy = [ "multi-user.target" ];
      after = [ "network-online.target" ];
      wants = [ "network-online.target" ];
      serviceConfig = {
        User = "nixfleet-cp";
        Group = "nixfleet-cp";
        StateDirectory = "nixfleet-cp";
        StateDirectoryMode = "0700";
        WorkingDirectory = stateDir;
        ExecStart = lib.escapeShellArgs ([ "${cfg.package}/bin/nixfleet-cp" "serve" ] ++ flags);
        # SIGHUP re-reads the server certificate, key and client CA.
        ExecReload = "${pkgs.coreutils}/bin/kill -HUP $MAINPID";
        # SIGTERM drains; the process itself gives up 5 s after the shutdown timeout.
        KillSignal = "SIGTERM";
        KillMode = "mixed";
        TimeoutStopSec = cfg.shutdownTimeout / 1000 + 20;
        Restart = "on-failure";
        RestartSec = 2;
        LimitNOFILE = 65536;

        NoNewPrivileges = true;
        ProtectSystem = "strict";
        ProtectHome = true;
        PrivateTmp = true;
        PrivateDevices = true;
        ProtectKernelTunables = true;
        ProtectKernelModules = true;
        ProtectKernelLogs = true;
        ProtectControlGroups = true;
        ProtectClock = true;
        ProtectHostname = true;
        ProtectProc = "invisible";
        ProcSubset = "pid";
        RestrictAddressFamilies = [ "AF_INET" "AF_INET6" "AF_UNIX" ];
        RestrictNamespaces = true;
        RestrictRealtime = true;
        RestrictSUIDSGID = true;
        RemoveIPC = true;
        LockPersonality = true;
        # Not MemoryDenyWriteExecute: V8's JIT needs writable executable memory.
        SystemCallArchitectures = "native";
        SystemCallFilter = [ "@system-service" ];
        SystemCallErrorNumber = "EPERM";
        CapabilityBoundingSet = "";
        AmbientCapabilities = "";
        UMask = "0077";
      };
    };
  };
}
