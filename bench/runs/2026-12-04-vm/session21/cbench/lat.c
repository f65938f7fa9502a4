#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>
#include <time.h>
static double now(){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+t.tv_nsec/1e9;}
int main(int argc,char**argv){
 const char*mode=argv[1]; int n=atoi(argv[2]); int sz=atoi(argv[3]); long pad=1<<20;
 char*buf=malloc(pad+sz); memset(buf,'x',sz); memset(buf+sz,0,pad);
 unlink("seg"); int fd=open("seg",O_WRONLY|O_CREAT|O_DSYNC,0644);
 long off=0,end=0; double tot=0,mx=0;
 for(int k=0;k<n;k++){
   long w=sz;
   if(!strcmp(mode,"pad") && off+sz>end){ w=sz+pad; }
   double t0=now();
   if(pwrite(fd,buf,w,off)!=w){perror("w");return 1;}
   double dt=now()-t0; tot+=dt; if(dt>mx)mx=dt;
   off+=sz; if(off+0>end && w>sz) end=off-sz+w; if(off>end) end=off;
   struct timespec ts={0,2000000}; nanosleep(&ts,0);
 }
 printf("%s sz=%d mean=%.0fus max=%.0fus\n",mode,sz,tot/n*1e6,mx*1e6);
}
