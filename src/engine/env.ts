import { pickEnv, type Env } from "../core/env.js";

/**
 * What the engine CLI (podman, docker, their builds) reads from its environment: where the engine
 * and its config are, the user's locale, terminal and proxies. Nothing else reaches it: it would
 * pass AUTHCTL_PASSPHRASE or a user's GITHUB_TOKEN on to a login container that asks for it
 * (`-e NAME`, podman's `--env-host`).
 */
const ENGINE_ENV = new Set([
  // where things are
  "PATH",
  "HOME",
  "USER",
  "LOGNAME",
  "TMPDIR",
  "XDG_RUNTIME_DIR",
  "XDG_CONFIG_HOME",
  "XDG_DATA_HOME",
  "DBUS_SESSION_BUS_ADDRESS", // rootless podman's systemd cgroup manager
  // podman
  "CONTAINER_HOST",
  "CONTAINER_CONNECTION",
  "CONTAINER_SSHKEY",
  "CONTAINERS_CONF",
  "CONTAINERS_STORAGE_CONF",
  "CONTAINERS_REGISTRIES_CONF",
  "REGISTRY_AUTH_FILE",
  "STORAGE_DRIVER",
  "STORAGE_OPTS",
  "BUILDAH_FORMAT",
  "BUILDAH_ISOLATION",
  "SSH_AUTH_SOCK", // a podman or docker host reached over ssh://
  // docker
  "DOCKER_HOST",
  "DOCKER_CONTEXT",
  "DOCKER_CONFIG",
  "DOCKER_CERT_PATH",
  "DOCKER_TLS_VERIFY",
  "DOCKER_API_VERSION",
  "DOCKER_DEFAULT_PLATFORM",
  "DOCKER_BUILDKIT",
  "BUILDKIT_PROGRESS",
  // proxies a build goes through
  "HTTP_PROXY",
  "HTTPS_PROXY",
  "NO_PROXY",
  "http_proxy",
  "https_proxy",
  "no_proxy",
  // terminal and locale (`-t`, messages)
  "TERM",
  "COLORTERM",
  "NO_COLOR",
  "TZ",
  "LANG",
  "LANGUAGE",
]);

/** The engine CLI's environment: the allow-listed variables of `env`, plus the locale's LC_*. */
export function engineEnv(env: Env): Record<string, string> {
  return pickEnv(env, (name) => ENGINE_ENV.has(name) || name.startsWith("LC_"));
}
