/*
 * Test fixture for running sei-agent.exe under Wine 8 (scripts/package-test.sh
 * builds it with Debian's gcc-mingw-w64-x86-64-win32; never shipped).
 *
 * Go's Windows runtime (1.24+) takes its random bytes from ProcessPrng in
 * bcryptprimitives.dll, which Wine 8 does not export. This DLL exports it
 * on top of BCryptGenRandom, which Wine has. Real Windows (10+) has its own.
 */
#include <windows.h>
#include <bcrypt.h>

BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len)
{
    while (len > 0) {
        ULONG n = len > 0x40000000 ? 0x40000000 : (ULONG)len;
        if (!BCRYPT_SUCCESS(BCryptGenRandom(NULL, data, n, BCRYPT_USE_SYSTEM_PREFERRED_RNG)))
            return FALSE;
        data += n;
        len -= n;
    }
    return TRUE;
}
