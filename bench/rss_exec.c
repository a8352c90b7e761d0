/* bench/rss_exec.c - run a command and report its own peak RSS.
 *
 *   rss_exec OUTFILE CMD [ARG...]
 *
 * Runs CMD as a child and, once it exits, writes its peak resident set size
 * in KiB (ru_maxrss from wait4) and a newline to OUTFILE; exits with the
 * child's exit code (128 + N after signal N). The benchmark scripts start
 * the programs they measure through it because a process forked from a big
 * parent (a Python interpreter holding pyarrow) inherits the parent's
 * resident pages as its high-water mark until, and across, exec: ru_maxrss
 * of such a child overstates it by the parent's size. This process is small
 * when it forks, so its child's figure is the measured program's own. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: rss_exec OUTFILE CMD [ARG...]\n");
        return 2;
    }
    pid_t pid = fork();
    if (pid < 0) {
        perror("rss_exec: fork");
        return 2;
    }
    if (pid == 0) {
        execvp(argv[2], argv + 2);
        perror(argv[2]);
        _exit(127);
    }
    int status = 0;
    struct rusage ru;
    if (wait4(pid, &status, 0, &ru) < 0) {
        perror("rss_exec: wait4");
        return 2;
    }
    FILE *f = fopen(argv[1], "w");
    if (f == NULL || fprintf(f, "%ld\n", ru.ru_maxrss) < 0 || fclose(f) != 0) {
        perror(argv[1]);
        return 2;
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
