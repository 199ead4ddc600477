// Node-RED's settings for tools/bench/e2e: the flow in flows.json (make_flows.py), run headless
// with `node red.js -s settings.js -u USERDIR` from a temporary install of node-red 4 and
// node-red-contrib-modbus 5.23.3. Headless means no editor and no HTTP nodes, so Node-RED is
// measured doing the job and nothing else; everything else is Node-RED's default.
module.exports = {
    flowFile: 'flows.json',
    flowFilePretty: true,
    // The flow holds no credentials (an anonymous broker on loopback).
    credentialSecret: false,

    // No editor, no admin API, no HTTP-in nodes: nothing listens.
    httpAdminRoot: false,
    httpNodeRoot: false,
    uiHost: '127.0.0.1',
    uiPort: Number(process.env.CC_NODE_RED_PORT || 1880),
    disableEditor: true,

    logging: {
        console: { level: 'warn', metrics: false, audit: false },
    },
    // No update check (Node-RED 4.1 asks the npm registry otherwise).
    telemetry: { enabled: false },
    diagnostics: { enabled: false },
    runtimeState: { enabled: false },
    functionExternalModules: false,
    exportGlobalContextKeys: false,
};
