/*
 * miniport.h - what the WDK's miniport.h gives a miniport: the base
 * kernel types. ustorport's storport.h already includes them, so this
 * only lets source that includes <miniport.h> first compile unchanged.
 */
#ifndef _MINIPORT_
#define _MINIPORT_

#include <ntddk.h>

#endif /* _MINIPORT_ */
