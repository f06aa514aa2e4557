export { detectEngine, resetEngineCache, type Engine, type EngineName } from "./detect.js";
export { buildRunArgv, prepareMountDir, usernsArgs, type RunArgvOptions } from "./runArgs.js";
export { backendFor, containerExists, forceRemoveContainer, imageExists, listContainers, type EngineBackend } from "./backend.js";
export { buildImage, contentTag, ensureImage, type BuildImageOptions } from "./build.js";
