import { SERVICE_NAME, type InstallLayout } from './layout.ts';

/** The unit files an install writes (name → text); `real` is the layout without the `--root` prefix. */
export function systemdUnits(real: InstallLayout): Record<string, string> {
  const run = `${real.executable} run --config ${real.configFile}`;
  return {
    [`${SERVICE_NAME}.service`]: `[Unit]
Description=Halo Link (answers Halo Cloud queries from this practice's PMS databases)
Wants=network-online.target
After=network-online.target

[Service]
Type=simple
User=${SERVICE_NAME}
Group=${SERVICE_NAME}
ExecStart=${run}
Restart=always
RestartSec=5
# The agent closes its queries, leaf nats-server and SQLite workers within its own grace period.
TimeoutStopSec=45
StateDirectory=${SERVICE_NAME}
StateDirectoryMode=0700
NoNewPrivileges=yes
ProtectSystem=strict
ProtectHome=read-only
PrivateTmp=yes
PrivateDevices=yes

[Install]
WantedBy=multi-user.target
`,
    // The updater runs as root: it writes ${real.versionsDir} and restarts the service.
    [`${SERVICE_NAME}-update.service`]: `[Unit]
Description=Halo Link update check (signed releases; rolls back a version that does not become healthy)
Wants=network-online.target
After=network-online.target

[Service]
Type=oneshot
ExecStart=${real.executable} update --config ${real.configFile}
`,
    [`${SERVICE_NAME}-update.timer`]: `[Unit]
Description=Hourly Halo Link update check

[Timer]
OnCalendar=hourly
RandomizedDelaySec=30min
Persistent=true

[Install]
WantedBy=timers.target
`,
  };
}

/** sysusers.d entry of the service's system user (no login, home is the state directory). */
export function sysusersEntry(real: InstallLayout): string {
  return `u ${SERVICE_NAME} - "Halo Link" ${real.stateDir} /usr/sbin/nologin\n`;
}
