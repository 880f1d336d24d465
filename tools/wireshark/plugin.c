/* Registers the patched PNRP dissector as a Wireshark 4.0 epan plugin (the referee of
 * tests/system/tshark.rs). build-referee.sh compiles this file together with Debian's
 * packet-pnrp.c, patched by pnrp-loop-check.patch and renamed to protocol "pnrpfixed" so that it
 * can load beside the built-in "pnrp" (which the test disables).
 *
 * The plugin ABI of Wireshark 4.0: plugin_version, plugin_want_major/minor and plugin_register(),
 * exported from the shared object.
 */
#include <gmodule.h>

#define WS_BUILD_DLL
#include <ws_symbol_export.h>
#include <ws_version.h>
#include <epan/proto.h>

#ifndef REFEREE_VERSION
#define REFEREE_VERSION "0.0.0"
#endif

void proto_register_pnrp(void);
void proto_reg_handoff_pnrp(void);

WS_DLL_PUBLIC_DEF const gchar plugin_version[] = REFEREE_VERSION;
WS_DLL_PUBLIC_DEF const int plugin_want_major = WIRESHARK_VERSION_MAJOR;
WS_DLL_PUBLIC_DEF const int plugin_want_minor = WIRESHARK_VERSION_MINOR;

WS_DLL_PUBLIC void plugin_register(void);

void plugin_register(void)
{
    static proto_plugin plug_pnrp;

    plug_pnrp.register_protoinfo = proto_register_pnrp;
    plug_pnrp.register_handoff = proto_reg_handoff_pnrp;
    proto_register_plugin(&plug_pnrp);
}
