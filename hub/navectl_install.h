/* navectl_install.h - `navectl install`: manifests to install Nave's parts.
 *
 * `navectl install klusterlet --cluster-name N` prints the manifests of
 * deploy/klusterlet/ (embedded at build time by tools/embed),
 * filled in for one cluster, ready for `kubectl apply -f -` on that cluster;
 * see navectl_install.c.
 */
#ifndef NAVE_NAVECTL_INSTALL_H
#define NAVE_NAVECTL_INSTALL_H

#include "navectl.h"

/* Run `navectl install ...`; argv[0] is "install". Returns the exit code
 * (navectl.h): 0 printed, 1 the hub refused the token, 2 usage error, 3 the
 * hub could not be reached. Prints nothing on stdout unless it succeeds. */
int nctl_cmd_install(struct nctl *n, int argc, char **argv);

#endif
