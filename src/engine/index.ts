export { detectEngine, resetEngineCache, type Engine, type EngineName } from "./detect.js";
export { buildRunArgv, prepareMountDir, type RunArgvOptions } from "./runArgs.js";
export { containerUser, containerUserFor, hostIdDatabasesAhead, sandboxId, startHostIdLookup, SANDBOX_ID_BASE, type ContainerUser, type IdDatabases, type ImageUser } from "./containerUser.js";
export { backendFor, type ContainerFilter, type EngineBackend } from "./backend.js";
export { CLIS_LABEL, clisOf, containerExists, forceRemoveContainer, imageExists, imageLabels, listContainers, removeLabelledContainers, SESSION_LABEL } from "./containers.js";
export { clientCreatesContainers } from "./remote.js";
export { buildImage, contentTag, ensureImage, type BuildImageOptions, type EnsureImageOptions } from "./build.js";
