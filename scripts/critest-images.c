/* Two tiny static programs for the offline critest images (scripts/critest-images.sh),
 * chosen by the name they are run as:
 *   pause  the pod sandbox's process: sleeps until SIGINT/SIGTERM (then exits 0),
 *          reaping any child it inherits, as the pause image's does;
 *   nnp    prints "Effective uid: N" (installed setuid root in the nonewprivs
 *          stand-in: N is 0 unless no_new_privs keeps the caller's uid). */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void quit(int sig)
{
    (void)sig;
    _exit(0);
}

static void reap(int sig)
{
    (void)sig;
    while (waitpid(-1, NULL, WNOHANG) > 0) {
    }
}

static int pause_main(void)
{
    struct sigaction q = {.sa_handler = quit};
    struct sigaction r = {.sa_handler = reap, .sa_flags = SA_NOCLDSTOP};
    sigaction(SIGINT, &q, NULL);
    sigaction(SIGTERM, &q, NULL);
    sigaction(SIGCHLD, &r, NULL);
    for (;;)
        pause();
}

int main(int argc, char **argv)
{
    const char *name = argc > 0 ? strrchr(argv[0], '/') : NULL;
    name = name ? name + 1 : (argc > 0 ? argv[0] : "");
    if (strcmp(name, "nnp") == 0) {
        printf("Effective uid: %d\n", (int)geteuid());
        return 0;
    }
    return pause_main();
}
